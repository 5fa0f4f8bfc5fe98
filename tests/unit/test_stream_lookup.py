"""The vectorised look-ups against the rules of issue 4, spelled out as brute force (no Spark).

Random cities with many ties (times on a coarse grid, few devices, cells and incidents) are answered
both ways and must agree row by row; hand-built cases pin the window edges and the tie rules.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

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


def brute_incidents(vt, vlat, vlon, et, elat, elon, eid, etype, window, radius):
    nearest, count = [], []
    for t, la, lo in zip(vt, vlat, vlon, strict=True):
        best, seen = None, set()
        for j in range(len(et)):
            if math.isnan(la) or not t - window <= et[j] <= t:
                continue
            d = lookup.haversine_km(np.array(la), np.array(lo), np.array(elat[j]), np.array(elon[j]))
            if d <= radius:
                seen.add(eid[j])
                key = (float(d), eid[j], etype[j])
                best = (key, j) if best is None or key < best[0] else best
        nearest.append(NONE if best is None else best[1])
        count.append(len(seen))
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
    near, dist, count = nearby_incidents(vt, vlat, vlon, et, elat, elon, eid, etype, 20 * S, 2.0)
    want_near, want_count = brute_incidents(vt, vlat, vlon, et, elat, elon, eid, etype, 20 * S, 2.0)
    assert list(near) == want_near
    assert list(count) == want_count
    hit = near != NONE
    assert hit.sum() > n // 2 and (np.array(want_count) > 1).any()
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
    km_per_deg = 6371.0 * math.pi / 180
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
    near, dist, count = nearby_incidents(vt, vlat, vlon, et, elat, elon, eid, etype, 1800 * S, 2.0)
    # Window [t - 30 min, t] inclusive: reports 0 and 1 (inc-B), 3 (inc-C), 5 (inc-A); report 2 is
    # after t, report 4 beyond 2 km. Nearest at 1 km: inc-A (smaller id) over inc-B and inc-C.
    assert list(near) == [5, NONE]
    assert abs(dist[0] - 1.0) < 1e-9 and math.isnan(dist[1])
    assert list(count) == [3, 0]
