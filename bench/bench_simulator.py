"""Simulator throughput to a local broker beside Kafka's own ProducerPerformance, same broker, same run.

    .venv/bin/python bench/bench_simulator.py [--vehicles 2000] [--seconds 300] [--bootstrap HOST:PORT]

Without ``--bootstrap`` a private broker (the local stack's KafkaBroker on free ports in a temp dir) is
started and stopped. The simulator runs in backfill mode over the five topics with real event sizes
and the producer settings it always uses (idempotent, acks=all, lz4, linger); its rate counts only
acknowledged messages, from the first event until the flush returns. ProducerPerformance then sends
the same number of records of the simulator's mean value size with the same producer settings.
Both rates depend on the CPU left over by other processes: compare the ratio, measured in one run.
Target: ≥ 100,000 events/s and ≥ half the perf-test rate on the 2-core machine.
"""

from __future__ import annotations

import argparse
import gc
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from smartcity.config import Settings
from smartcity.local import jvm
from smartcity.local.kafka import KafkaBroker
from smartcity.local.process import free_port
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.faults import FaultConfig
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.sinks import PRODUCER_DEFAULTS, KafkaSink, MemorySink, kafka_config
from smartcity.simulate.world import WorldParams

PERF_TOPIC = "bench_producer_perf"
WARMUP_RECORDS = 500_000


def run_config(vehicles: int, seconds: float) -> RunConfig:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds + 60)
    return RunConfig(
        world=WorldParams(vehicles=vehicles, seed=1),
        faults=FaultConfig(),
        mode="backfill",
        start_ms=epoch_ms(start),
        duration_s=seconds,
    )


def mean_value_size(settings: Settings, vehicles: int) -> int:
    """Mean message size of the same fleet (a short dry run: identical generator, no broker)."""
    sink = MemorySink(settings.topics.all())
    Simulation(run_config(vehicles, 20), sink).run()
    return round(sum(len(m[2]) for m in sink.messages) / len(sink.messages))


def bench_simulator(settings: Settings, vehicles: int, seconds: float) -> tuple[int, float]:
    sink = KafkaSink(kafka_config(settings), settings.topics.all())
    sink.check_connection()
    t0 = time.perf_counter()
    manifest = Simulation(run_config(vehicles, seconds), sink).run()
    wall = time.perf_counter() - t0
    if not manifest["complete"]:
        raise SystemExit(f"simulator run incomplete: {manifest['last_error']}")
    acked = manifest["totals"]["acknowledged"]
    return acked, acked / wall


def bench_perf_test(settings: Settings, records: int, size: int) -> float:
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    if PERF_TOPIC not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic(PERF_TOPIC, settings.topics.partitions, 1)])[PERF_TOPIC].result()
    props = [f"bootstrap.servers={settings.kafka.bootstrap_servers}"] + [
        f"{k}={str(v).lower()}"
        for k, v in PRODUCER_DEFAULTS.items()
        if k in ("enable.idempotence", "acks", "linger.ms", "batch.size", "compression.type")
    ]
    cmd = [
        "java",
        "-Xmx512m",
        "-cp",
        jvm.resolve("kafka", verify_hashes=False).as_java_classpath(),
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        PERF_TOPIC,
        "--num-records",
        str(records),
        "--record-size",
        str(size),
        "--throughput",
        "-1",
        "--producer-props",
        *props,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    final = [ln for ln in out.splitlines() if "records sent" in ln][-1]
    match = re.search(r"([\d.]+) records/sec", final)
    if not match:
        raise SystemExit(f"cannot parse ProducerPerformance output: {final}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=300.0, help="simulated seconds (backfill)")
    parser.add_argument("--bootstrap", help="use this broker instead of starting a private one")
    args = parser.parse_args()

    broker = None
    with tempfile.TemporaryDirectory(prefix="smartcity-bench-") as home:
        if args.bootstrap:
            settings = Settings(profile="local", kafka={"bootstrap_servers": args.bootstrap})  # type: ignore[arg-type]
        else:
            local = {"home": Path(home), "kafka_port": free_port(), "kafka_controller_port": free_port()}
            settings = Settings(profile="local", local=local)  # type: ignore[arg-type]
            broker = KafkaBroker(settings)
            broker.start()
        try:
            size = mean_value_size(settings, args.vehicles)
            # Warm the broker's JIT first, so neither measured run pays for it (the one that ran first
            # used to, by 10-20 %). The warm-up's figure is printed but not compared.
            warm_rate = bench_perf_test(settings, WARMUP_RECORDS, size)
            events, sim_rate = bench_simulator(settings, args.vehicles, args.seconds)
            perf_rate = bench_perf_test(settings, events, size)
        finally:
            gc.collect()  # drop the producers (held in reference cycles) before their broker goes away
            if broker is not None:
                broker.stop()
    ratio = sim_rate / perf_rate
    print(f"broker warm-up     : {warm_rate:>10,.0f} records/s ({WARMUP_RECORDS:,} records, not compared)")
    print(
        f"simulator         : {sim_rate:>10,.0f} events/s  ({events:,} events, {args.vehicles} vehicles, "
        f"5 topics, mean value {size} B, acked incl. flush)"
    )
    print(f"ProducerPerformance: {perf_rate:>10,.0f} records/s ({events:,} records of {size} B, same props)")
    print(f"ratio simulator / perf-test: {ratio:.2f}  (targets: >= 100,000 events/s and ratio >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
