"""The simulator against the real local broker (and moto's S3 for the Lambda state).

Counts are read back between the end offsets taken before and after each run, so other tests
producing to the same session's topics earlier do not disturb them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from smartcity.config import Settings, Stream
from smartcity.contract import ContractViolation, parse_event
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.faults import MALFORMED_KINDS, FaultConfig
from smartcity.simulate.manifest import read_manifest
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.sinks import KafkaSink, kafka_config
from smartcity.simulate.world import WorldParams

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """High watermarks of every partition (retrying while fresh topics still elect their leaders)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": "offsets-probe"})
    deadline = time.monotonic() + 60
    try:
        out = {}
        for topic in settings.topics.all().values():
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                while True:
                    try:
                        out[(topic, p)] = consumer.get_watermark_offsets(
                            TopicPartition(topic, p), timeout=10
                        )[1]
                        break
                    except KafkaException:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.5)
        return out
    finally:
        consumer.close()


def read_between(
    settings: Settings, start: dict[tuple[str, int], int], end: dict[tuple[str, int], int]
) -> dict[str, list[tuple[str, bytes]]]:
    """Every message between two offset snapshots: ``topic → [(key, value)]``."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": "simulator-test",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    wanted = {tp: end[tp] for tp in end if end[tp] > start.get(tp, 0)}
    consumer.assign([TopicPartition(t, p, start.get((t, p), 0)) for t, p in wanted])
    out: dict[str, list[tuple[str, bytes]]] = {t: [] for t in settings.topics.all().values()}
    remaining = dict(wanted)
    try:
        while remaining:
            msgs = consumer.consume(10_000, timeout=5)
            assert msgs, f"no more messages but still expecting {remaining}"
            for m in msgs:
                if m.error():
                    continue
                tp = (m.topic(), m.partition())
                if tp in remaining and m.offset() < remaining[tp]:
                    out[m.topic()].append((m.key().decode(), m.value()))
                    if m.offset() + 1 >= remaining[tp]:
                        del remaining[tp]
    finally:
        consumer.close()
    return out


def test_backfill_with_every_fault_matches_the_manifest_per_topic_and_kind(
    stack: Any, tmp_path: Path
) -> None:
    settings: Settings = stack.settings
    before = end_offsets(settings)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    manifest_path = tmp_path / "manifest.json"
    config = RunConfig(
        world=WorldParams(vehicles=100, seed=2024),
        faults=FaultConfig.all_faults(0.01, late_delay_s=120, seed=2024),
        mode="backfill",
        start_ms=epoch_ms(start),
        duration_s=600,
        manifest_path=manifest_path,
    )
    sink = KafkaSink(kafka_config(settings), settings.topics.all())
    sink.check_connection()
    manifest = Simulation(config, sink).run()
    assert manifest == read_manifest(manifest_path)
    assert manifest["complete"], manifest["last_error"]

    consumed = read_between(settings, before, end_offsets(settings))
    now = datetime.now(UTC)
    for stream, topic in settings.topics.all().items():
        expected = manifest["topics"][topic]
        messages = consumed[topic]
        assert len(messages) == expected["acknowledged"] == expected["produced"], topic
        kinds: Counter[str] = Counter()
        ids: Counter[str] = Counter()
        for key, value in messages:
            try:
                event = parse_event(stream, value, now=now)
            except ContractViolation as exc:
                kinds[exc.kind] += 1
                continue
            assert event.deviceId == key  # type: ignore[attr-defined]  # keyed by deviceId
            ids[event.id] += 1  # type: ignore[attr-defined]
        assert {k: kinds.get(k, 0) for k in MALFORMED_KINDS} == expected["malformed"], topic
        assert len(ids) == expected["distinct_valid_ids"], topic
        assert sum(n - 1 for n in ids.values()) == expected["duplicates"], topic
    assert manifest["totals"]["distinct_valid_ids"] > 80_000
    assert all(v > 0 for v in manifest["totals"]["malformed"].values())
    assert stream is Stream.EMERGENCY  # every stream was checked


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context (as its testing docs show)."""

    function_name: str = "smartcity-simulator"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:smartcity-simulator"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    remaining_ms: int = 120_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("simulator_app", ROOT / "simulator" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["simulator_app"] = module
    spec.loader.exec_module(module)
    return module.lambda_handler  # type: ignore[no-any-return]


def test_lambda_handler_twice_continues_the_same_vehicles(
    stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings: Settings = stack.settings
    s3 = boto3.client("s3", **settings.boto3_kwargs())
    bucket = "smartcity-simulator-state-test"
    s3.create_bucket(Bucket=bucket)
    env = {
        "SMARTCITY_PROFILE": "local",
        "SMARTCITY_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SMARTCITY_AWS_ENDPOINT_URL": settings.aws_endpoint_url or "",
        "SMARTCITY_LOCAL__HOME": str(settings.local.home),
        "SIMULATOR_STATE_BUCKET": bucket,
        "SIMULATOR_STATE_KEY": "state/world.json",
        "SIMULATOR_VEHICLES": "50",
        "SIMULATOR_BURST_SECONDS": "30",
        "SIMULATOR_START_LAG_SECONDS": "900",
        "SIMULATOR_MAX_WALL_SECONDS": "60",
        "SIMULATOR_FAULT_RATE": "0",
        "POWERTOOLS_METRICS_NAMESPACE": "SmartCityTest",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    event = json.loads((ROOT / "events" / "simulator-schedule.json").read_text())
    handler = load_handler()

    before = end_offsets(settings)
    first = handler(event, FakeLambdaContext())
    state_1 = json.loads(s3.get_object(Bucket=bucket, Key="state/world.json")["Body"].read())
    middle = end_offsets(settings)
    second = handler(event, FakeLambdaContext())
    state_2 = json.loads(s3.get_object(Bucket=bucket, Key="state/world.json")["Body"].read())
    after = end_offsets(settings)

    assert (first["invocation"], second["invocation"]) == (1, 2)
    assert first["complete"] and second["complete"]
    assert first["window"]["to"] == second["window"]["from"], "the second burst starts where the first ended"
    assert datetime.fromisoformat(second["window"]["to"]) - datetime.fromisoformat(
        first["window"]["from"]
    ) == (timedelta(seconds=60))
    assert state_2["world"]["time_ms"] - state_1["world"]["time_ms"] == 30_000

    def vehicle_fixes(start: dict[tuple[str, int], int], end: dict[tuple[str, int], int]) -> dict[str, list]:  # type: ignore[type-arg]
        out: dict[str, list] = {}  # type: ignore[type-arg]
        for key, value in read_between(settings, start, end)[settings.topics.vehicle]:
            data = json.loads(value)
            out.setdefault(key, []).append((data["timestamp"], data["location"]))
        return out

    burst_1, burst_2 = vehicle_fixes(before, middle), vehicle_fixes(middle, after)
    assert sum(first["topics"].values()) == sum(
        len(v) for v in read_between(settings, before, middle).values()
    )
    assert set(burst_1) == set(burst_2) and len(burst_1) == 50, "the same fleet in both bursts"
    from smartcity.simulate.geo import haversine_km

    for device, fixes in burst_2.items():
        last_ts, last_loc = max(burst_1[device])
        next_ts, next_loc = min(fixes)
        gap_s = (datetime.fromisoformat(next_ts) - datetime.fromisoformat(last_ts)).total_seconds()
        assert 0 < gap_s <= 2.0, "no hole in event time between invocations"
        # Continuing a route: the next fix is within what a vehicle drives in the gap, not a new start.
        assert haversine_km(*last_loc, *next_loc) * 1000 <= 60 * gap_s, device
