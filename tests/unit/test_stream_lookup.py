"""The vectorised look-ups against their rules, spelled out as brute force (no Spark).

Random cities with many ties (times on a coarse grid, few devices, cells and incidents) are answered
both ways and must agree row by row; hand-built cases pin the window edges and the tie rules.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from smartcity.earth import EARTH_RADIUS_KM
from smartcity.stream import lookup
from smartcity.stream.lookup import NONE, latest_weather, nearby_incidents, nearest_gps

pytestmark = pytest.mark.unit

S = 1_000_000  # microseconds per second


def arr(values, dtype=None) -> np.ndarray:
    return np.array(values, dtype=dtype if dtype is not None else object)


def ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct ids in random order (so the id order is not the row order)."""
    return arr([f"id-{k:04d}" for k in rng.permutation(n)])


def brute_gps(vt, vdev, gt, gdev, gid, window):
    out = []
    for t, dev in zip(vt, vdev, strict=True):
        best = None
        for j in range(len(gt)):
            if dev is not None and gdev[j] == dev and abs(gt[j] - t) <= window:
                key = (abs(gt[j] - t), gt[j], gid[j])
                best = (key, j) if best is None or key < best[0] else best
        out.append(NONE if best is None else best[1])
    return out


def brute_weather(vt, vcell, wt, wcell, wid, window):
    out = []
    for t, c in zip(vt, vcell, strict=True):
        best = None
        for j in range(len(wt)):
            if c is not None and wcell[j] == c and t - window <= wt[j] <= t:
                key = (-wt[j], wid[j])
                best = (key, j) if best is None or key < best[0] else best
        out.append(NONE if best is None else best[1])
    return out


def brute_incidents(vt, vlat, vlon, et, elat, elon, eid, etype, estatus, window, radius):
    """Per incident id the latest report at or before t in report order (time, Active before Resolved,
    type, latitude, longitude, input position); active if Active and in the window, counted if within
    the radius."""
    nearest, count = [], []
    for t, la, lo in zip(vt, vlat, vlon, strict=True):
        latest: dict[str, tuple[tuple, int]] = {}
        for j in range(len(et)):
            if eid[j] is None or et[j] > t:
                continue
            key = (et[j], estatus[j] != "Active", etype[j], elat[j], elon[j], j)
            if eid[j] not in latest or key > latest[eid[j]][0]:
                latest[eid[j]] = (key, j)
        best, seen = None, 0
        for i, (_, j) in latest.items():
            if math.isnan(la) or estatus[j] != "Active" or t - et[j] > window:
                continue
            d = float(lookup.haversine_km(np.array(la), np.array(lo), np.array(elat[j]), np.array(elon[j])))
            if d <= radius:
                seen += 1
                best = ((d, i), j) if best is None or (d, i) < best[0] else best
        nearest.append(NONE if best is None else best[1])
        count.append(seen)
    return nearest, count


@pytest.mark.parametrize("seed", range(5))
def test_nearest_gps_agrees_with_the_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 300, 600
    vt = rng.integers(0, 60, n) * S  # whole seconds: many equal gaps and instants
    vdev = arr([f"d{k}" for k in rng.integers(0, 6, n)])
    vdev[rng.random(n) < 0.05] = None
    gt = rng.integers(0, 60, m) * S
    gdev = arr([f"d{k}" for k in rng.integers(0, 7, m)])
    gid = ids(m, rng)
    got = nearest_gps(vt, vdev, gt, gdev, gid, 3 * S)
    assert list(got) == brute_gps(vt, vdev, gt, gdev, gid, 3 * S)
    assert (got != NONE).sum() > n // 2  # the case is not vacuous


@pytest.mark.parametrize("seed", range(5))
def test_latest_weather_agrees_with_the_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 300, 200
    vt = rng.integers(0, 100, n) * S
    vcell = arr([f"{k}:1" for k in rng.integers(0, 4, n)])
    vcell[rng.random(n) < 0.05] = None
    wt = rng.integers(0, 100, m) * S
    wcell = arr([f"{k}:1" for k in rng.integers(0, 5, m)])
    wid = ids(m, rng)
    got = latest_weather(vt, vcell, wt, wcell, wid, 10 * S)
    assert list(got) == brute_weather(vt, vcell, wt, wcell, wid, 10 * S)
    assert (got != NONE).sum() > n // 2


@pytest.mark.parametrize("chunk", [1, 7, lookup.PAIRS_PER_CHUNK])
def test_nearby_incidents_agree_with_the_rule(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup, "PAIRS_PER_CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    n, m = 200, 60
    vt = rng.integers(0, 50, n) * S
    vlat = 51.50 + rng.integers(0, 40, n) * 0.001
    vlon = -0.12 + rng.integers(0, 40, n) * 0.001
    vlat[rng.random(n) < 0.05] = np.nan
    et = rng.integers(0, 50, m) * S
    # Reports on a few sites, several per incident id, some sharing a site (equal distances).
    elat = 51.50 + rng.integers(0, 5, m) * 0.008
    elon = -0.12 + rng.integers(0, 5, m) * 0.008
    eid = arr([f"inc-{k}" for k in rng.integers(0, 12, m)])
    etype = arr([["Fire", "Accident"][k] for k in rng.integers(0, 2, m)])
    estatus = arr(np.where(rng.random(m) < 0.8, "Active", "Resolved"))
    near, dist, count = nearby_incidents(vt, vlat, vlon, et, elat, elon, eid, etype, estatus, 20 * S, 2.0)
    want_near, want_count = brute_incidents(vt, vlat, vlon, et, elat, elon, eid, etype, estatus, 20 * S, 2.0)
    assert list(near) == want_near
    assert list(count) == want_count
    hit = near != NONE
    assert hit.sum() > n // 2 and (np.array(want_count) > 1).any()
    expected = lookup.haversine_km(vlat[hit], vlon[hit], elat[near[hit]], elon[near[hit]])
    assert np.allclose(dist[hit], expected) and np.isnan(dist[~hit]).all()


@pytest.mark.parametrize("seed", range(300))
def test_nearby_incidents_with_resolutions_agree_with_the_rule(seed: int) -> None:
    """Small random cities where incidents are resolved and reported again, with ties in time."""
    rng = np.random.default_rng(1000 + seed)
    n, m = int(rng.integers(1, 15)), int(rng.integers(0, 25))
    vt = rng.integers(0, 30, n) * S
    vlat = 51.50 + rng.integers(0, 10, n) * 0.002
    vlon = -0.12 + rng.integers(0, 10, n) * 0.002
    vlat[rng.random(n) < 0.1] = np.nan
    et = rng.integers(0, 30, m) * S
    elat = 51.50 + rng.integers(0, 4, m) * 0.006
    elon = -0.12 + rng.integers(0, 4, m) * 0.006
    eid = arr([f"inc-{k}" for k in rng.integers(0, 5, m)])
    eid[rng.random(m) < 0.05] = None
    etype = arr([["Fire", "Accident"][k] for k in rng.integers(0, 2, m)])
    estatus = arr(np.where(rng.random(m) < 0.6, "Active", "Resolved"))
    # A resolution may come without a location: it still ends the incident.
    elat[(estatus == "Resolved") & (rng.random(m) < 0.2)] = np.nan
    window, radius = int(rng.integers(0, 15)) * S, float(rng.choice([0.5, 1.0, 2.0]))
    near, dist, count = nearby_incidents(vt, vlat, vlon, et, elat, elon, eid, etype, estatus, window, radius)
    want_near, want_count = brute_incidents(
        vt, vlat, vlon, et, elat, elon, eid, etype, estatus, window, radius
    )
    assert list(near) == want_near
    assert list(count) == want_count
    hit = near != NONE
    expected = lookup.haversine_km(vlat[hit], vlon[hit], elat[near[hit]], elon[near[hit]])
    assert np.allclose(dist[hit], expected) and np.isnan(dist[~hit]).all()


def test_gps_edges_and_ties() -> None:
    vt = arr([100 * S, 200 * S, 300 * S, 400 * S], np.int64)
    vdev = arr(["a", "a", "a", "b"])
    gt = arr([96 * S, 104 * S, 190 * S, 210 * S, 210 * S, 310 * S + 1, 400 * S], np.int64)
    gdev = arr(["a", "a", "a", "a", "a", "a", "c"])
    gid = arr(["g1", "g0", "g9", "g8", "g7", "g6", "g5"])
    got = nearest_gps(vt, vdev, gt, gdev, gid, 10 * S)
    # 4 s either side: the earlier. 10 s either side (inclusive): the earlier. 10 s + 1 µs: none.
    # Another device's fix never matches.
    assert list(got) == [0, 2, NONE, NONE]
    # Two fixes at the same instant after the event: the smaller id.
    assert list(nearest_gps(vt[1:2], vdev[1:2], gt[3:5], gdev[3:5], gid[3:5], 10 * S)) == [1]
    assert list(nearest_gps(vt, vdev, gt[:0], gdev[:0], gid[:0], 10 * S)) == [NONE] * 4


def test_weather_window_is_inclusive_and_never_after() -> None:
    vt = arr([1000 * S, 1000 * S, 1000 * S], np.int64)
    vcell = arr(["1:1", "2:2", "3:3"])
    wt = arr([1000 * S, 1000 * S, 100 * S, 1000 * S + 1, 99 * S], np.int64)
    wcell = arr(["1:1", "1:1", "2:2", "3:3", "3:3"])
    wid = arr(["w2", "w1", "w3", "w4", "w5"])
    # At t exactly: counts, smaller id. At t - 900 s exactly: counts. After t or before the window: no.
    assert list(latest_weather(vt, vcell, wt, wcell, wid, 900 * S)) == [1, 2, NONE]


def test_incident_edges_distinct_count_and_tie() -> None:
    km_per_deg = EARTH_RADIUS_KM * math.pi / 180
    vt = arr([1800 * S, 1800 * S], np.int64)
    vlat, vlon = arr([51.5, np.nan], float), arr([-0.12, -0.12], float)
    et = arr([0, 1800 * S, 1800 * S + 1, 900 * S, 900 * S, 900 * S], np.int64)
    elat = arr(
        [51.5 + 1.0 / km_per_deg, 51.5 + 1.0 / km_per_deg, 51.5, 51.5 + 1.0 / km_per_deg, 51.5, 51.5], float
    )
    elat[4] = 51.5 + 2.001 / km_per_deg  # just outside the radius
    elat[5] = 51.5 - 1.0 / km_per_deg  # same distance as reports 0 and 1, other side
    elon = np.full(6, -0.12)
    eid = arr(["inc-B", "inc-B", "inc-A", "inc-C", "inc-D", "inc-A"])
    etype = arr(["Fire", "Fire", "Fire", "Fire", "Fire", "Accident"])
    status = arr(["Active"] * 6)
    near, dist, count = nearby_incidents(vt, vlat, vlon, et, elat, elon, eid, etype, status, 1800 * S, 2.0)
    # Window [t - 30 min, t] inclusive: inc-B (its latest report 1), inc-C (3), inc-A (5, report 2 is
    # after t); inc-D is beyond 2 km. Nearest at 1 km: inc-A (smaller id) over inc-B and inc-C.
    assert list(near) == [5, NONE]
    assert abs(dist[0] - 1.0) < 1e-9 and math.isnan(dist[1])
    assert list(count) == [3, 0]


KM_PER_DEG = EARTH_RADIUS_KM * math.pi / 180
T = 1800 * S  # the vehicle's time in the single-vehicle cases below
WINDOW = 1800 * S


def one_vehicle(reports: list[tuple[str, int, str, float]], radius: float = 2.0):
    """``nearby_incidents`` for one vehicle at (51.5, -0.12) and time T; a report is
    (incident id, time, status, km north of the vehicle)."""
    eid = arr([r[0] for r in reports])
    et = arr([r[1] for r in reports], np.int64)
    status = arr([r[2] for r in reports])
    elat = arr([51.5 + r[3] / KM_PER_DEG for r in reports], float)
    elon = np.full(len(reports), -0.12)
    etype = arr(["Fire"] * len(reports))
    near, dist, count = nearby_incidents(
        arr([T], np.int64), arr([51.5], float), arr([-0.12], float), et, elat, elon, eid, etype, status,
        WINDOW, radius,
    )  # fmt: skip
    return int(near[0]), float(dist[0]), int(count[0])


@pytest.mark.parametrize(
    ("reports", "want"),
    [
        # Active then Resolved before t: not active.
        ([("a", T - 100 * S, "Active", 1.0), ("a", T - 50 * S, "Resolved", 1.0)], (NONE, 0)),
        # Resolved, then Active again before t: active (the latest report).
        (
            [
                ("a", T - 300 * S, "Active", 1.0),
                ("a", T - 200 * S, "Resolved", 1.0),
                ("a", T - 100 * S, "Active", 1.5),
            ],
            (2, 1),
        ),
        # Resolved exactly at t re-opened later: what happens after t does not count.
        (
            [("a", T - 100 * S, "Active", 1.0), ("a", T, "Resolved", 1.0), ("a", T + S, "Active", 1.0)],
            (NONE, 0),
        ),
        # Resolved after t: still active at t.
        ([("a", T - 100 * S, "Active", 1.0), ("a", T + 1, "Resolved", 1.0)], (0, 1)),
        # Active and Resolved at the same instant (either input order): Resolved is the later, not active.
        ([("a", T - 100 * S, "Active", 1.0), ("a", T - 100 * S, "Resolved", 1.0)], (NONE, 0)),
        ([("a", T - 100 * S, "Resolved", 1.0), ("a", T - 100 * S, "Active", 1.0)], (NONE, 0)),
        # A Resolved report exactly at t: not active.
        ([("a", T - 100 * S, "Active", 1.0), ("a", T, "Resolved", 1.0)], (NONE, 0)),
        # An Active report exactly at t: active.
        ([("a", T, "Active", 1.0)], (0, 1)),
        # The window's old edge: exactly t - window is in, one microsecond older is out.
        ([("a", T - WINDOW, "Active", 1.0)], (0, 1)),
        ([("a", T - WINDOW - 1, "Active", 1.0)], (NONE, 0)),
        # The latest report older than the window: an older Active report does not count instead.
        ([("a", T - WINDOW - 2, "Active", 1.0), ("a", T - WINDOW - 1, "Active", 1.0)], (NONE, 0)),
        # Moving incident: the latest report's place counts, even if an earlier one was in range.
        ([("a", T - 200 * S, "Active", 1.0), ("a", T - 100 * S, "Active", 3.0)], (NONE, 0)),
        ([("a", T - 200 * S, "Active", 3.0), ("a", T - 100 * S, "Active", 1.0)], (1, 1)),
        # Just inside and just outside the radius.
        ([("a", T - 100 * S, "Active", 1.999)], (0, 1)),
        ([("a", T - 100 * S, "Active", 2.001)], (NONE, 0)),
    ],
)
def test_incident_status_rule(reports: list[tuple[str, int, str, float]], want: tuple[int, int]) -> None:
    near, dist, count = one_vehicle(reports)
    assert (near, count) == want
    assert math.isnan(dist) == (near == NONE)


def test_incident_radius_edge_is_inclusive() -> None:
    edge = float(
        lookup.haversine_km(
            np.array(51.5), np.array(-0.12), np.array(51.5 + 2.0 / KM_PER_DEG), np.array(-0.12)
        )
    )
    assert one_vehicle([("a", T - S, "Active", 2.0)], radius=edge)[::2] == (0, 1)
    assert one_vehicle([("a", T - S, "Active", 2.0)], radius=np.nextafter(edge, 0))[::2] == (NONE, 0)


def test_incident_tie_and_distinct_count_with_several_reports() -> None:
    # Three incidents each reported several times, moving; at t: inc-B (latest 1.0 km north) and
    # inc-A (latest 1.0 km south) tie, inc-C is 0.5 km away but resolved, inc-D is 1.5 km away.
    reports = [
        ("inc-B", T - 900 * S, "Active", 0.2),
        ("inc-A", T - 800 * S, "Active", -0.1),
        ("inc-B", T - 700 * S, "Active", 1.0),
        ("inc-A", T - 600 * S, "Active", -1.0),
        ("inc-C", T - 500 * S, "Active", 0.5),
        ("inc-C", T - 400 * S, "Resolved", 0.5),
        ("inc-D", T - 300 * S, "Active", 1.5),
        ("inc-D", T - 200 * S, "Active", 1.5),
    ]
    near, dist, count = one_vehicle(reports)
    assert near == 3 and abs(dist - 1.0) < 1e-9 and count == 3
    # Same with the rows reversed: the answer does not depend on the input order.
    near, _, count = one_vehicle(reports[::-1])
    assert near == len(reports) - 1 - 3 and count == 3


def test_incident_chunking_gives_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    n, m = 120, 40
    vt = rng.integers(0, 40, n) * S
    vlat = 51.50 + rng.integers(0, 20, n) * 0.002
    vlon = -0.12 + rng.integers(0, 20, n) * 0.002
    et = rng.integers(0, 40, m) * S
    elat = 51.50 + rng.integers(0, 4, m) * 0.01
    elon = -0.12 + rng.integers(0, 4, m) * 0.01
    eid = arr([f"inc-{k}" for k in rng.integers(0, 8, m)])
    etype = arr(["Fire"] * m)
    estatus = arr(np.where(rng.random(m) < 0.7, "Active", "Resolved"))
    args = (vt, vlat, vlon, et, elat, elon, eid, etype, estatus, 15 * S, 2.0)
    whole = nearby_incidents(*args)
    assert (whole[0] != NONE).any()
    for chunk in (1, 5, 64):
        monkeypatch.setattr(lookup, "PAIRS_PER_CHUNK", chunk)
        parts = nearby_incidents(*args)
        assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(whole, parts, strict=True))


def test_incidents_without_vehicles_or_reports() -> None:
    empty_f, empty_o = np.array([], float), arr([])
    near, dist, count = nearby_incidents(
        arr([T], np.int64), arr([51.5], float), arr([-0.12], float), np.array([], np.int64), empty_f,
        empty_f, empty_o, empty_o, empty_o, WINDOW, 2.0,
    )  # fmt: skip
    assert list(near) == [NONE] and math.isnan(dist[0]) and list(count) == [0]
    # Only Resolved reports: nothing active.
    assert one_vehicle([("a", T - S, "Resolved", 0.0)])[::2] == (NONE, 0)
