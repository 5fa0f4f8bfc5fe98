"""Anomaly injection: a plain reading of every rule in smartcity.anomaly.rules, run over the simulated
stream, flags exactly the injected anomalies and nothing on a run without injection."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smartcity.anomaly.rules import (
    DEVICE_SILENT,
    GPS_JUMP,
    IMPOSSIBLE_SPEED,
    MAX_IMPLIED_SPEED_KMH,
    MAX_PLAUSIBLE_SPEED_KMH,
    MAX_TEMPERATURE_DEVIATION_C,
    MIN_JUMP_DISTANCE_M,
    MIN_NEIGHBOUR_REPORTS,
    SILENCE_S,
    STUCK_REPORTS,
    STUCK_SENSOR,
    WEATHER_OUTLIER,
)
from smartcity.anomaly.scoring import score_manifests
from smartcity.config import Stream
from smartcity.contract import parse_location
from smartcity.errors import UsageError
from smartcity.simulate.anomalies import READING_FIELDS, AnomalyConfig
from smartcity.simulate.faults import FaultConfig
from smartcity.simulate.geo import haversine_km
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.sinks import MemorySink
from smartcity.simulate.world import WorldParams

pytestmark = pytest.mark.unit

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TOPICS = {s: s.value for s in Stream}


def simulate(rate: float, *, seed: int = 3, duration_s: float = 1200, vehicles: int = 20) -> tuple[Any, Any]:
    sink = MemorySink(TOPICS)
    config = RunConfig(
        world=WorldParams(vehicles=vehicles, seed=seed),
        anomalies=AnomalyConfig(rate=rate, seed=seed),
        mode="backfill",
        start_ms=START_MS,
        duration_s=duration_s,
    )
    return Simulation(config, sink).run(), sink.messages


def reference_flags(messages: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """Every rule read literally over the whole stream, as rows of the anomalies table would carry them."""
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for topic, _key, value, _category in messages:
        data = json.loads(value)
        data["_t"] = datetime.fromisoformat(data["timestamp"])
        events[topic].append(data)
    rows: list[dict[str, Any]] = []

    def flag(rule: str, event: dict[str, Any]) -> None:
        rows.append(
            {"rule": rule, "device_id": event["deviceId"], "event_id": event["id"], "event_time": event["_t"]}
        )

    for topic in (Stream.VEHICLE.value, Stream.GPS.value):
        for e in events[topic]:
            if e["speed"] > MAX_PLAUSIBLE_SPEED_KMH:
                flag(IMPOSSIBLE_SPEED, e)
    last_fix: dict[str, dict[str, Any]] = {}
    for e in sorted(events[Stream.VEHICLE.value], key=lambda e: e["_t"]):
        before = last_fix.get(e["deviceId"])
        last_fix[e["deviceId"]] = e
        if before is None:
            continue
        metres = haversine_km(*parse_location(before["location"]), *parse_location(e["location"])) * 1000
        hours = (e["_t"] - before["_t"]).total_seconds() / 3600
        if metres >= MIN_JUMP_DISTANCE_M and metres / 1000 / hours > MAX_IMPLIED_SPEED_KMH:
            flag(GPS_JUMP, e)
    runs: dict[str, list[Any]] = {}
    by_minute: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(events[Stream.WEATHER.value], key=lambda e: e["_t"]):
        reading = tuple(e[f] for f in READING_FIELDS)
        run = runs.get(e["deviceId"])
        runs[e["deviceId"]] = [reading, run[1] + 1] if run and run[0] == reading else [reading, 1]
        if runs[e["deviceId"]][1] >= STUCK_REPORTS:
            flag(STUCK_SENSOR, e)
        by_minute[e["_t"].replace(second=0, microsecond=0)].append(e)
    for reports in by_minute.values():
        for e in reports:
            others = [o["temperature"] for o in reports if o["deviceId"] != e["deviceId"]]
            deviation = abs(e["temperature"] - statistics.median(others)) if others else 0.0
            if len(others) >= MIN_NEIGHBOUR_REPORTS and deviation > MAX_TEMPERATURE_DEVIATION_C:
                flag(WEATHER_OUTLIER, e)
    times: dict[str, list[datetime]] = defaultdict(list)
    for topic in (Stream.VEHICLE.value, Stream.GPS.value, Stream.TRAFFIC.value, Stream.EMERGENCY.value):
        for e in events[topic]:
            if e["deviceId"].startswith("vehicle-"):
                times[e["deviceId"]].append(e["_t"])
    for device, ts in times.items():
        ts.sort()
        for a, b in itertools.pairwise(ts):
            if b - a > timedelta(seconds=SILENCE_S):
                rows.append({"rule": DEVICE_SILENT, "device_id": device, "event_id": None, "event_time": a})
    return rows


def test_clean_stream_trips_no_rule() -> None:
    manifest, messages = simulate(0.0)
    assert manifest["anomalies"] == [] and manifest["anomalies_incomplete"] == []
    assert reference_flags(messages) == []
    last: dict[str, float] = {}
    repeats = 0
    for topic, key, value, _ in messages:
        if topic == Stream.WEATHER.value:
            temperature = json.loads(value)["temperature"]
            repeats += last.get(key) == temperature
            last[key] = temperature
    assert len(last) > 5 and repeats == 0  # not even one repeat of a temperature, let alone a stuck run


def test_every_injected_anomaly_is_found_and_nothing_else() -> None:
    manifest, messages = simulate(AnomalyConfig.DEFAULT_RATE * 2)
    scores = score_manifests(reference_flags(messages), [manifest])
    for kind, s in scores.items():
        assert s.injected > 0, kind
        assert (s.true_positives, s.false_positives, s.false_negatives) == (s.injected, 0, 0), s


def test_injection_leaves_the_rest_of_the_stream_as_the_world_made_it() -> None:
    _, clean = simulate(0.0, duration_s=600)
    manifest, injected = simulate(AnomalyConfig.DEFAULT_RATE * 2, duration_s=600)
    records = manifest["anomalies"] + manifest["anomalies_incomplete"]
    touched = {i for r in records for i in (r["event_id"], *r["related_event_ids"])}
    # A silence drops a vehicle's events; the report after a stuck run may be nudged off the stuck value.
    silenced = {r["device_id"] for r in records if r["kind"] in (DEVICE_SILENT, STUCK_SENSOR)}
    kept = [m for m in clean if m[1] not in silenced]
    same = [m for m in injected if m[1] not in silenced and json.loads(m[2])["id"] not in touched]
    assert same == [m for m in kept if json.loads(m[2])["id"] not in touched]
    assert len(same) > len(clean) / 2


def test_same_seed_same_anomalies_and_faults_do_not_change_them() -> None:
    first, _ = simulate(AnomalyConfig.DEFAULT_RATE, duration_s=300)
    second, _ = simulate(AnomalyConfig.DEFAULT_RATE, duration_s=300)
    assert first["anomalies"] == second["anomalies"] and first["anomalies"]
    sink = MemorySink(TOPICS)
    config = RunConfig(
        world=WorldParams(vehicles=20, seed=3),
        anomalies=AnomalyConfig(rate=AnomalyConfig.DEFAULT_RATE, seed=3),
        faults=FaultConfig.all_faults(0.01, seed=3),
        mode="backfill",
        start_ms=START_MS,
        duration_s=300,
    )
    assert Simulation(config, sink).run()["anomalies"] == first["anomalies"]


def test_ground_truth_records_what_the_scorer_matches() -> None:
    manifest, _ = simulate(AnomalyConfig.DEFAULT_RATE * 2, duration_s=900)
    for r in manifest["anomalies"]:
        assert set(r) == {
            "kind",
            "stream",
            "device_id",
            "event_id",
            "event_time",
            "related_event_ids",
            "start",
            "end",
        }
        if r["kind"] == DEVICE_SILENT:
            assert r["event_id"] is None
            gap = datetime.fromisoformat(r["end"]) - datetime.fromisoformat(r["start"])
            assert gap > timedelta(seconds=SILENCE_S)
        else:
            assert r["event_id"]
        if r["kind"] == GPS_JUMP:
            assert len(r["related_event_ids"]) == 1  # the fix back on the road
        if r["kind"] == STUCK_SENSOR:
            assert STUCK_REPORTS <= len(r["related_event_ids"]) <= STUCK_REPORTS + 2
            assert r["related_event_ids"][STUCK_REPORTS - 1] == r["event_id"]
    assert datetime.fromisoformat(manifest["anomalies"][0]["event_time"]).tzinfo == UTC


@pytest.mark.parametrize("rate", [-0.01, 0.51, float("nan")])
def test_rate_out_of_range_is_a_one_line_usage_error(rate: float) -> None:
    with pytest.raises(UsageError, match=r"^--anomaly-rate must be in \[0, 0.5\], got"):
        AnomalyConfig(rate=rate)
