"""The simulator without a broker: determinism, exact fault accounting, continuation, coherence, CLI."""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from smartcity.cli import main
from smartcity.config import Stream, TopicSettings
from smartcity.contract import ContractViolation, parse_event
from smartcity.errors import UsageError
from smartcity.simulate.encode import epoch_ms, uuid4_from
from smartcity.simulate.faults import MALFORMED_KINDS, FaultConfig, FaultInjector
from smartcity.simulate.geo import haversine_km
from smartcity.simulate.manifest import read_manifest
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.sinks import MemorySink
from smartcity.simulate.world import World, WorldParams

pytestmark = pytest.mark.unit
START = epoch_ms(datetime(2025, 6, 1, 8, tzinfo=UTC))
NOW = datetime(2025, 6, 2, tzinfo=UTC)
TOPICS = TopicSettings().all()
STREAM_OF = {topic: stream for stream, topic in TOPICS.items()}


def run(
    seed: int = 42,
    faults: FaultConfig | None = None,
    duration: float = 300,
    vehicles: int = 50,
    manifest: Path | None = None,
) -> tuple[MemorySink, dict]:  # type: ignore[type-arg]
    sink = MemorySink(TOPICS)
    config = RunConfig(
        world=WorldParams(vehicles=vehicles, seed=seed),
        faults=faults or FaultConfig(seed=seed),
        mode="backfill",
        start_ms=START,
        duration_s=duration,
        manifest_path=manifest,
    )
    return sink, Simulation(config, sink).run()


def test_same_seed_gives_identical_bytes_and_another_seed_does_not() -> None:
    faults = FaultConfig.all_faults(0.02, seed=42)
    first, _ = run(faults=faults)
    second, _ = run(faults=faults)
    assert first.messages == second.messages
    assert len(first.messages) > 10_000
    other, _ = run(seed=43, faults=FaultConfig.all_faults(0.02, seed=43))
    assert other.messages != first.messages


def test_faults_do_not_change_the_clean_stream() -> None:
    clean, _ = run()
    faulty, _ = run(faults=FaultConfig(duplicate_rate=0.05, seed=42))
    assert [m for m in faulty.messages if m[3] == "valid"] == clean.messages


def test_every_fault_is_counted_exactly_and_the_validator_agrees_with_its_kind(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    sink, manifest = run(faults=FaultConfig.all_faults(0.03, late_delay_s=120, seed=42), manifest=path)
    assert read_manifest(path) == manifest
    assert manifest["complete"] and not manifest["interrupted"]
    for topic, summary in manifest["topics"].items():
        stream = STREAM_OF[topic]
        msgs = [m for m in sink.messages if m[0] == topic]
        assert summary["produced"] == summary["acknowledged"] == len(msgs)
        ids: Counter[str] = Counter()
        rejected: Counter[str] = Counter()
        for _, key, value, category in msgs:
            try:
                event = parse_event(stream, value, now=NOW)
            except ContractViolation as exc:
                assert category == f"malformed:{exc.kind}", (category, str(exc))
                rejected[exc.kind] += 1
                continue
            assert not category.startswith("malformed"), value
            assert event.deviceId == key  # type: ignore[attr-defined]
            ids[event.id] += 1  # type: ignore[attr-defined]
        assert dict(rejected) == {k: v for k, v in summary["malformed"].items() if v}
        assert len(ids) == summary["distinct_valid_ids"]
        assert sum(n - 1 for n in ids.values()) == summary["duplicates"]
    totals = manifest["totals"]
    assert all(totals["malformed"][k] > 0 for k in MALFORMED_KINDS)
    assert totals["late"] > 0 and totals["out_of_order"] > 0 and totals["duplicates"] > 0


def test_late_events_arrive_at_least_the_delay_after_their_event_time() -> None:
    sink, _ = run(faults=FaultConfig(late_rate=0.02, late_delay_s=120, seed=1), duration=400)
    newest = ""
    lags = []
    at_end = 0
    last_release = datetime.fromtimestamp(START / 1000 + 400 - 120, UTC)
    for _topic, _, value, category in sink.messages:
        ts = json.loads(value)["timestamp"]
        if category != "late":
            newest = max(newest, ts)
        elif datetime.fromisoformat(ts) < last_release:
            lags.append((datetime.fromisoformat(newest) - datetime.fromisoformat(ts)).total_seconds())
        else:
            at_end += 1  # released by the end-of-run flush: sent, counted, less late
    assert lags and min(lags) >= 119  # the newest event sent is ≥ the delay ahead (within a tick)
    assert at_end > 0


def test_stop_flushes_and_the_manifest_equals_what_was_sent() -> None:
    stop = threading.Event()

    class StoppingSink(MemorySink):
        def send(self, *args: object) -> None:
            super().send(*args)  # type: ignore[arg-type]
            if len(self.messages) == 5000:
                stop.set()

    sink = StoppingSink(TOPICS)
    config = RunConfig(
        world=WorldParams(vehicles=50),
        faults=FaultConfig.all_faults(0.02, seed=42),
        mode="backfill",
        start_ms=START,
        duration_s=600,
    )
    manifest = Simulation(config, sink).run(stop)
    assert manifest["interrupted"]
    assert manifest["totals"]["acknowledged"] == len(sink.messages) > 5000


def test_a_saved_world_continues_exactly_where_it_was() -> None:
    params = WorldParams(vehicles=30, seed=9)
    straight = World.create(params, START)
    expected: list[str] = []
    for _ in range(120):
        straight.step(lambda _s, _k, v, _ms: expected.append(v))

    first = World.create(params, START)
    got: list[str] = []
    for _ in range(60):
        first.step(lambda _s, _k, v, _ms: got.append(v))
    resumed = World.from_state(json.loads(json.dumps(first.to_state())))
    assert resumed.positions() == first.positions()
    for _ in range(60):
        resumed.step(lambda _s, _k, v, _ms: got.append(v))
    assert got == expected


def test_fault_rng_state_round_trips() -> None:
    sent: list[str] = []
    injector = FaultInjector(FaultConfig.all_faults(0.2, seed=3), lambda s, k, v, c: sent.append(c))
    for _ in range(50):
        injector.rng.random()
    copy = FaultInjector(injector.config, lambda s, k, v, c: None, rng_state=injector.rng_state())
    assert [copy.rng.random() for _ in range(5)] == [injector.rng.random() for _ in range(5)]


def test_vehicles_move_plausibly_along_roads() -> None:
    world = World.create(WorldParams(vehicles=20, seed=5), START)
    track: dict[str, list[tuple[float, float, float, float]]] = {}

    def emit(stream: Stream, key: str, value: str, ms: int) -> None:
        if stream is Stream.VEHICLE:
            data = json.loads(value)
            track.setdefault(key, []).append((ms / 1000, *data["location"], data["speed"]))

    for _ in range(600):
        world.step(emit)
    for points in track.values():
        assert len(points) == 300  # a vehicle event every 2 s
        for (t1, la1, lo1, _), (t2, la2, lo2, _) in itertools.pairwise(points):
            kmh = haversine_km(la1, lo1, la2, lo2) / ((t2 - t1) / 3600)
            assert kmh < 90, "straight-line speed between fixes never exceeds the road speeds much"
        assert max(p[3] for p in points) > 10


def test_weather_is_coherent_in_space_and_time() -> None:
    world = World.create(WorldParams(vehicles=1, seed=11), START)
    readings: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for _ in range(3 * 3600):
        world.step(
            lambda s, k, v, _ms: (
                readings.setdefault(k, []).append(json.loads(v)) if s is Stream.WEATHER else None
            )
        )
    for series in readings.values():
        assert len(series) == 180
        for a, b in itertools.pairwise(series):
            assert abs(a["temperature"] - b["temperature"]) < 1.5, "a minute later the temperature is similar"
    at_same_time = [series[90]["temperature"] for series in readings.values()]
    assert max(at_same_time) - min(at_same_time) < 6, "stations a few km apart agree"
    conditions = {r["weatherCondition"] for series in readings.values() for r in series}
    assert "Rain" in conditions and conditions & {"Sunny", "Cloudy"}, "the front brings rain and passes"


def test_uuid_from_the_rng_is_a_standard_v4_uuid() -> None:
    import random

    a, b = random.Random(1), random.Random(1)
    for _ in range(500):
        text = uuid4_from(a.randbytes)
        assert text == str(uuid.UUID(bytes=b.randbytes(16), version=4))
        assert uuid.UUID(text).version == 4


def test_fault_rates_are_validated() -> None:
    with pytest.raises(UsageError, match="add up"):
        FaultConfig(late_rate=0.6, malformed_rate=0.6)
    with pytest.raises(UsageError, match="late-rate"):
        FaultConfig(late_rate=-0.1)


def test_cli_dry_run_writes_the_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    code = main(
        [
            "simulate",
            "--backfill",
            "--dry-run",
            "--no-progress",
            "--duration",
            "120",
            "--vehicles",
            "10",
            "--all-faults",
            "--start",
            "2025-06-01T08:00:00Z",
            "--manifest",
            str(manifest),
            "--home",
            str(tmp_path),
        ]
    )
    assert code == 0
    data = read_manifest(manifest)
    assert data["run"]["vehicles"] == 10 and data["run"]["faults"]["late_rate"] == FaultConfig.ALL_FAULTS_RATE
    assert data["totals"]["acknowledged"] > 1000


def test_cli_rejects_bad_flags_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--dry-run", "--vehicles", "0", "--home", str(tmp_path)])
    assert exit_.value.code == 2
    assert "argument --vehicles: must be between 1 and" in capsys.readouterr().err


def _saved_sql(name: str) -> str:
    return (resources.files("smartcity.query") / "saved" / f"{name}.sql").read_text()


# The thresholds the saved queries use, read from the queries themselves.
SPEEDING_KMH = float(re.search(r"count_if\(speed > (\d+(?:\.\d+)?)\)", _saved_sql("speeding_hotspots"))[1])  # type: ignore[index]
INCIDENT_RADIUS_KM = float(
    re.search(r"distance_km <= (\d+(?:\.\d+)?)", _saved_sql("vehicles_near_active_incidents"))[1]  # type: ignore[index]
)


@pytest.mark.parametrize("start", [START, START + (5 * 3600 + 17 * 60) * 1000], ids=["08:00", "13:17"])
def test_the_default_demo_city_gives_every_saved_query_something_to_show(start: int) -> None:
    """The demo's defaults (scenario, 100 vehicles, 10 minutes, seed 42) at any start time."""
    defaults = WorldParams()
    world = World.create(WorldParams(scenario=defaults.scenario, vehicles=100, seed=42), start)
    conditions: Counter[str] = Counter()
    speeds: list[float] = []
    vehicles: dict[int, list[tuple[float, float]]] = {}
    incidents: dict[int, list[tuple[float, float]]] = {}

    def emit(stream: Stream, _key: str, value: str, ms: int) -> None:
        data = json.loads(value)
        if stream is Stream.WEATHER:
            conditions[data["weatherCondition"]] += 1
        elif stream is Stream.VEHICLE:
            speeds.append(data["speed"])
            vehicles.setdefault(ms // 60_000, []).append(tuple(data["location"]))
        elif stream is Stream.EMERGENCY and data["status"] == "Active":
            lat, lon = (float(x) for x in data["location"].split(","))
            incidents.setdefault(ms // 60_000, []).append((lat, lon))

    for _ in range(600):
        world.step(emit)
    assert len(conditions) > 1, conditions
    assert sum(s > SPEEDING_KMH for s in speeds) > 0, max(speeds)
    near = [
        (minute, inc)
        for minute, reports in incidents.items()
        for inc in reports
        for pos in vehicles.get(minute, [])
        if haversine_km(*inc, *pos) <= INCIDENT_RADIUS_KM
    ]
    assert near, "an active incident within the saved query's radius of a vehicle in the same minute"
