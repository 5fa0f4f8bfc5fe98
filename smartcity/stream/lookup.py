"""The three enrichment look-ups as vectorised functions over arrays (pandas ``merge_asof`` and numpy).

They run inside Spark's Python workers (``smartcity.stream.enrich`` hands them whole partitions as Arrow
tables) and are plain functions of numpy arrays, so they are tested without Spark. Each returns, per
vehicle event, the *index* of the chosen candidate (-1 when none): the caller takes the payload columns
from its own Arrow table, so no value is converted on the way.

Answering them in one pass over arrays per partition, rather than as Spark window functions and a
range join, saves the shuffles, sorts and join back those need (``merge_asof`` is pandas' as-of join,
one sorted sweep per key).

Time is int64 microseconds since the epoch throughout (Spark's own unit), so window edges are exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smartcity.earth import EARTH_RADIUS_KM

NONE = -1
# Vehicles x incidents compared at once in ``nearby_incidents`` (bounds the worker's memory per chunk).
PAIRS_PER_CHUNK = 2_000_000


def asof_index(
    left_t: np.ndarray,
    left_key: np.ndarray,
    right_t: np.ndarray,
    right_key: np.ndarray,
    right_id: np.ndarray,
    *,
    direction: str,
    tolerance_us: int,
) -> np.ndarray:
    """Per left row, the right row with the same key nearest in time in ``direction``, within tolerance.

    ``backward``: the newest right row with ``t_right <= t_left``; ``forward``: the oldest with
    ``t_right >= t_left``; both edges inclusive, ``|Δt| <= tolerance_us``. Among right rows at the same
    instant the smallest id wins in both directions (``merge_asof`` takes the *last* row at or before in
    the right order and the *first* at or after, so the ids are sorted descending resp. ascending).
    Rows whose key is null match nothing. Returns right positions, ``NONE`` where there is no match.
    """
    out = np.full(len(left_t), NONE, dtype=np.int64)
    left_ok = pd.notna(left_key)
    right_ok = pd.notna(right_key)
    if not left_ok.any() or not right_ok.any():
        return out
    left = pd.DataFrame(
        {"t": left_t[left_ok], "k": left_key[left_ok], "row": np.flatnonzero(left_ok)}
    ).sort_values("t", kind="stable")
    right = pd.DataFrame(
        {
            "t": right_t[right_ok],
            "k": right_key[right_ok],
            "id": right_id[right_ok],
            "pos": np.flatnonzero(right_ok),
        }
    ).sort_values(["t", "id"], ascending=[True, direction == "forward"], kind="stable")
    matched = pd.merge_asof(
        left,
        right.drop(columns="id"),
        on="t",
        by="k",
        direction=direction,
        tolerance=tolerance_us,
        allow_exact_matches=True,
    )
    pos = matched["pos"].to_numpy(dtype=float, na_value=np.nan)
    found = ~np.isnan(pos)
    out[matched["row"].to_numpy()[found]] = pos[found].astype(np.int64)
    return out


def nearest_gps(
    vehicle_t: np.ndarray,
    vehicle_device: np.ndarray,
    gps_t: np.ndarray,
    gps_device: np.ndarray,
    gps_id: np.ndarray,
    window_us: int,
) -> np.ndarray:
    """Per vehicle event, the same device's GPS fix closest in time within ±window (inclusive).

    Ties: the earlier fix, then the smaller id. The newest fix at or before t and the oldest at or after
    t are the only candidates for the closest; at equal distance the one before is the earlier.
    """
    if len(gps_t) == 0:
        return np.full(len(vehicle_t), NONE, dtype=np.int64)
    before = asof_index(
        vehicle_t, vehicle_device, gps_t, gps_device, gps_id, direction="backward", tolerance_us=window_us
    )
    after = asof_index(
        vehicle_t, vehicle_device, gps_t, gps_device, gps_id, direction="forward", tolerance_us=window_us
    )
    has_before, has_after = before != NONE, after != NONE
    gap_before = np.where(has_before, vehicle_t - gps_t[np.where(has_before, before, 0)], 0)
    gap_after = np.where(has_after, gps_t[np.where(has_after, after, 0)] - vehicle_t, 0)
    use_before = has_before & (~has_after | (gap_before <= gap_after))
    return np.where(use_before, before, after)


def latest_weather(
    vehicle_t: np.ndarray,
    vehicle_cell: np.ndarray,
    weather_t: np.ndarray,
    weather_cell: np.ndarray,
    weather_id: np.ndarray,
    window_us: int,
) -> np.ndarray:
    """Per vehicle event, the latest weather report of its cell in [t − window, t]; ties: smaller id."""
    return asof_index(
        vehicle_t,
        vehicle_cell,
        weather_t,
        weather_cell,
        weather_id,
        direction="backward",
        tolerance_us=window_us,
    )


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km on the Earth sphere (arguments in degrees, broadcasting)."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dlmb = np.radians(lon2 - lon1)
    a = np.sin((phi2 - phi1) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    # min(1, .) guards arcsin against rounding just above 1 for antipodal points.
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a)))


def _current_until(
    incident_t: np.ndarray,
    incident_id: np.ndarray,
    incident_status: np.ndarray,
    incident_type: np.ndarray,
    incident_lat: np.ndarray,
    incident_lon: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Reports with an incident id in "report order", and per report the time its successor takes over.

    Report order is (incident id, time, ``Active`` before any other status, type, latitude, longitude,
    input position): reports equal up to the input position are alike in everything the look-up
    outputs, so the answer does not depend on the input order.
    A report is its incident's current one at t iff ``time <= t < until``; ``until`` is the next
    report's time in that order (the maximum int64 for an incident's last report), so a report followed
    at the same instant is never current. Returns (input positions in report order, until).
    """
    frame = pd.DataFrame(
        {
            "i": incident_id,
            "t": incident_t,
            "s": incident_status != "Active",
            "y": incident_type,
            "la": incident_lat,
            "lo": incident_lon,
        }
    )
    frame = frame[pd.notna(incident_id)].sort_values(["i", "t", "s", "y", "la", "lo"], kind="stable")
    order = frame.index.to_numpy()
    ids, t = incident_id[order], incident_t[order]
    until = np.full(len(order), np.iinfo(np.int64).max, dtype=np.int64)
    same = ids[1:] == ids[:-1]
    until[:-1][same] = t[1:][same]
    return order, until


def nearby_incidents(
    vehicle_t: np.ndarray,
    vehicle_lat: np.ndarray,
    vehicle_lon: np.ndarray,
    incident_t: np.ndarray,
    incident_lat: np.ndarray,
    incident_lon: np.ndarray,
    incident_id: np.ndarray,
    incident_type: np.ndarray,
    incident_status: np.ndarray,
    window_us: int,
    radius_km: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per vehicle event at t: the nearest incident active at t within the radius, and how many are.

    The report that counts for an incident at t is its latest report at or before t; the incident is
    active iff that report's status is ``Active`` and t − window <= its time <= t, and in range iff the
    distance to that report's location is <= radius (all edges inclusive). Any status other than
    ``Active`` ends an incident as ``Resolved`` does; at the same instant ``Active`` comes first, so an
    incident reported Active and Resolved at once is not active (further ties: ``_current_until``).
    Pass every report (Active and Resolved), not only the Active ones. Reports older than t − window may
    be left out, which never changes the answer (a latest report that old fails the window, and so would
    any report older still). Reports without an incident id, and vehicles without a location, match nothing.

    Returns (index of the nearest active report or ``NONE``, its distance in km or NaN, the count of
    distinct active incidents in range). At most one report per incident is current at t, so the count
    is a plain count; ties at equal distance: the smaller incident id (candidates are in id order, so
    ``argmin``'s first minimum is that one).
    """
    n = len(vehicle_t)
    nearest = np.full(n, NONE, dtype=np.int64)
    distance = np.full(n, np.nan)
    count = np.zeros(n, dtype=np.int32)
    located = ~(np.isnan(vehicle_lat) | np.isnan(vehicle_lon))
    if n == 0 or len(incident_t) == 0 or not located.any():
        return nearest, distance, count
    order, until = _current_until(
        incident_t, incident_id, incident_status, incident_type, incident_lat, incident_lon
    )
    rows = np.flatnonzero(located)
    t_min, t_max = vehicle_t[rows].min(), vehicle_t[rows].max()
    et = incident_t[order]
    # Only Active reports can make an incident active; keep those current and in the window for some
    # located vehicle (the Resolved ones have done their part through ``until``).
    keep = (
        (incident_status[order] == "Active")
        & (et < until)
        & (et <= t_max)
        & (until > t_min)
        & (et >= t_min - window_us)
    )
    order, until, et = order[keep], until[keep], et[keep]
    if len(order) == 0:
        return nearest, distance, count
    elat, elon = incident_lat[order], incident_lon[order]
    chunk = max(1, PAIRS_PER_CHUNK // len(order))
    for lo in range(0, len(rows), chunk):
        r = rows[lo : lo + chunk]
        t = vehicle_t[r][:, None]
        d = haversine_km(vehicle_lat[r][:, None], vehicle_lon[r][:, None], elat[None, :], elon[None, :])
        ok = (et[None, :] <= t) & (t < until[None, :]) & (t - et[None, :] <= window_us) & (d <= radius_km)
        any_ok = ok.any(axis=1)
        best = np.argmin(np.where(ok, d, np.inf), axis=1)
        hit = r[any_ok]
        nearest[hit] = order[best[any_ok]]
        distance[hit] = d[any_ok, best[any_ok]]
        count[r] = ok.sum(axis=1)
    return nearest, distance, count
