"""The three enrichment look-ups as vectorised functions over arrays (pandas ``merge_asof`` and numpy).

They run inside Spark's Python workers (``smartcity.stream.enrich`` hands them whole partitions as Arrow
tables) and are plain functions of numpy arrays, so they are tested without Spark. Each returns, per
vehicle event, the *index* of the chosen candidate (-1 when none): the caller takes the payload columns
from its own Arrow table, so no value is converted on the way.

Why not Spark operators (the design until 2026-11-30): the as-of look-ups were window functions, one
shuffle and one or two sorts of vehicles and candidates together per look-up, and the emergency rule a
banded range join (a city is a few radii wide, so each vehicle met most of the incidents of the last
30 minutes) with ``count(distinct)`` and a join back. On the simulator's 60,000 vehicle events that was
~17 s of a micro-batch on two cores, ~11 s of it the emergency join; here the three look-ups take well
under a second per partition. ``merge_asof`` is pandas' as-of join (a single sorted sweep per key).

Time is int64 microseconds since the epoch throughout (Spark's own unit), so window edges are exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smartcity.stream.geo import EARTH_RADIUS_KM

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
    """Great-circle distance in km on a sphere of radius 6371 km (arguments in degrees, broadcasting)."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dlmb = np.radians(lon2 - lon1)
    a = np.sin((phi2 - phi1) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    # min(1, .) guards arcsin against rounding just above 1 for antipodal points.
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a)))


def nearby_incidents(
    vehicle_t: np.ndarray,
    vehicle_lat: np.ndarray,
    vehicle_lon: np.ndarray,
    incident_t: np.ndarray,
    incident_lat: np.ndarray,
    incident_lon: np.ndarray,
    incident_id: np.ndarray,
    incident_type: np.ndarray,
    window_us: int,
    radius_km: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per vehicle event: the nearest incident report in [t − window, t] within the radius, and how many
    distinct incident ids are.

    The candidates are the Active reports (the caller filters them). Returns (index of the nearest
    report or ``NONE``, its distance in km or NaN, the distinct count). Ties: the smaller incident id,
    then the smaller type (reports are ordered so ``argmin``'s first minimum is that one). Vehicles
    without a location match nothing.
    """
    n = len(vehicle_t)
    nearest = np.full(n, NONE, dtype=np.int64)
    distance = np.full(n, np.nan)
    count = np.zeros(n, dtype=np.int32)
    located = ~(np.isnan(vehicle_lat) | np.isnan(vehicle_lon))
    if n == 0 or len(incident_t) == 0 or not located.any():
        return nearest, distance, count
    order = pd.DataFrame({"i": incident_id, "y": incident_type}).sort_values(["i", "y"], kind="stable").index
    order = order.to_numpy()
    ids = incident_id[order]
    # Start of each incident id's run of reports, for the distinct count (logical_or per run).
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    et, elat, elon = incident_t[order], incident_lat[order], incident_lon[order]
    rows = np.flatnonzero(located)
    chunk = max(1, PAIRS_PER_CHUNK // len(et))
    for lo in range(0, len(rows), chunk):
        r = rows[lo : lo + chunk]
        age = vehicle_t[r][:, None] - et[None, :]
        d = haversine_km(vehicle_lat[r][:, None], vehicle_lon[r][:, None], elat[None, :], elon[None, :])
        ok = (age >= 0) & (age <= window_us) & (d <= radius_km)
        any_ok = ok.any(axis=1)
        best = np.argmin(np.where(ok, d, np.inf), axis=1)
        hit = r[any_ok]
        nearest[hit] = order[best[any_ok]]
        distance[hit] = d[any_ok, best[any_ok]]
        count[r] = np.logical_or.reduceat(ok, starts, axis=1).sum(axis=1)
    return nearest, distance, count
