"""How far behind the streaming job's output the dashboard's map is: the live snapshot's freshness.

The job's real steps (``StreamJob.run_step``: judge, raw and quarantine, state, live snapshot, enrichment,
commit, metrics) run back to back in one local[2] Spark session, each on one trigger interval of the
simulator's city (``--vehicles``, every fault at the simulator's default rate) handed to the step as the
rows Kafka would (no broker: the figures are the job's and the dashboard's, not Kafka's). Beside them,
two threads read the lake through the dashboard's own data layer (``SnapshotFeed`` over
``LocalLakeReader``) as the page would:

* *poll*: every ``--poll`` seconds (the map's default poll interval), as the city fragment does now;
* *baseline*: every ``--refresh`` seconds (the old default refresh interval), as the city fragment did
  when the map was only redrawn on its refresh interval; measured on the same steps in the same run.

Per step it records when the step started, when the snapshot object and the metrics file (the job's
output, written after the commit) were written (their mtimes), and when each reader first saw the step's
snapshot. Freshness = seen - metrics file (negative: the map shows the step before the job has finished
it). Target: one trigger interval + 5 s. The first step (cold: JVM, Python workers, code generation) is
printed but left out of the figures. The last line is a JSON object for scripts.

    .venv/bin/python bench/bench_freshness.py [--vehicles 60] [--steps 6] [--trigger 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from smartcity.config import Settings
from smartcity.dashboard.context import DEFAULT_POLL_S
from smartcity.dashboard.feeds import SnapshotFeed
from smartcity.dashboard.lake_reader import LocalLakeReader
from smartcity.local.stack import private_stack_settings
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.faults import FaultConfig
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.sinks import MemorySink
from smartcity.simulate.world import WorldParams
from smartcity.stream.job import StreamJob
from smartcity.stream.live import snapshot_uri
from smartcity.stream.metrics import metrics_uri
from smartcity.stream.source import KAFKA_SOURCE_SCHEMA
from smartcity.stream.stepid import StepId

BASELINE_REFRESH_S = 3.0  # the dashboard's refresh interval before the map polled for new snapshots
TARGET_SLACK_S = 5.0  # the target: one trigger interval + this


@dataclass
class Reader:
    """A thread reading the snapshot through the dashboard's feed every ``every_s``: when it first saw
    each step."""

    lake: Path
    every_s: float
    seen: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        feed = SnapshotFeed(LocalLakeReader(self.lake))
        while not self.stop.wait(self.every_s):
            snap = feed.read().snapshot
            if snap is not None and snap.step not in self.seen:
                self.seen[snap.step] = time.time()


def city_slices(settings: Settings, vehicles: int, steps: int, trigger_s: float) -> list[list[tuple]]:
    """``steps`` consecutive trigger intervals of the simulated city, ending now, as Kafka rows."""
    sink = MemorySink(settings.topics.all())
    span = steps * trigger_s
    config = RunConfig(
        world=WorldParams(vehicles=vehicles),
        faults=FaultConfig(**{k: FaultConfig.ALL_FAULTS_RATE for k in ("late_rate", "duplicate_rate")}),
        mode="backfill",
        start_ms=epoch_ms(datetime.now(UTC)) - int(span * 1000),
        duration_s=span,
    )
    Simulation(config, sink).run()
    offsets: dict[str, int] = {}
    rows = []
    for topic, key, value, _ in sink.messages:
        offsets[topic] = offsets.get(topic, -1) + 1
        rows.append((key.encode(), value.encode(), topic, 0, offsets[topic]))
    per = -(-len(rows) // steps)
    return [rows[i : i + per] for i in range(0, len(rows), per)]


def kafka_frame(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """The rows as Spark's Kafka source hands a micro-batch to ``foreachBatch`` (received now)."""
    now = datetime.now(UTC)
    return spark.createDataFrame([(*r, now, 0) for r in rows], KAFKA_SOURCE_SCHEMA)


def mtime(uri: str) -> float | None:
    path = Path(uri.removeprefix("file://"))
    return path.stat().st_mtime if path.exists() else None


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vehicles", type=int, default=60)
    p.add_argument("--steps", type=int, default=6, help="steps run (the first, cold, is left out)")
    p.add_argument("--trigger", type=float, default=2.0, help="seconds of event time per step")
    p.add_argument("--poll", type=float, default=DEFAULT_POLL_S)
    p.add_argument("--refresh", type=float, default=BASELINE_REFRESH_S)
    a = p.parse_args()
    if a.steps < 2 or a.vehicles < 1 or a.trigger <= 0 or a.poll <= 0 or a.refresh <= 0:
        p.error("--steps >= 2; --vehicles, --trigger, --poll and --refresh positive")

    home = Path(tempfile.mkdtemp(prefix="smartcity-bench-freshness-"))
    try:
        from smartcity.spark import local_session

        settings = private_stack_settings(home)
        cfg = settings.stream.with_overrides(trigger_interval_s=a.trigger)
        slices = city_slices(settings, a.vehicles, a.steps, a.trigger)
        spark = local_session("smartcity-bench-freshness", shuffle_partitions=cfg.shuffle_partitions)
        job = StreamJob(spark, settings, cfg)
        lake = Path(settings.lake_uri.removeprefix("file://"))
        readers = {"poll": Reader(lake, a.poll), "baseline": Reader(lake, a.refresh)}
        threads = [threading.Thread(target=r.run, daemon=True) for r in readers.values()]
        for t in threads:
            t.start()
        steps = []
        for batch_id, rows in enumerate(slices):
            step = StepId(batch_id)
            started = time.time()
            metrics = job.run_step(step, kafka_frame(spark, rows))
            snap_path = Path(snapshot_uri(settings.lake_uri).removeprefix("file://"))
            cost = json.loads(snap_path.read_text()).get("cost", {}) if snap_path.exists() else {}
            steps.append(
                {
                    "step": step.key,
                    "messages": len(rows),
                    "started": started,
                    "metrics_file": mtime(metrics_uri(settings.lake_uri, step)),
                    "snapshot_file": mtime(snapshot_uri(settings.lake_uri)),
                    "snapshot_cost_s": cost.get("seconds"),
                    "snapshot_jobs": cost.get("spark_jobs"),
                    "duration_s": metrics.duration_s,
                }
            )
            # Progress (stderr), so that an interrupted run still leaves its timings.
            seen = (
                {name: r.seen.get(steps[-2]["step"]) for name, r in readers.items()} if len(steps) > 1 else {}
            )
            print(json.dumps({"step": steps[-1], "previous_seen": seen}), file=sys.stderr, flush=True)
        time.sleep(max(a.poll, a.refresh) * 2)  # let both readers see the last step
        for r in readers.values():
            r.stop.set()
        spark.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print(f"{a.steps} steps of {a.trigger:g} s of a {a.vehicles}-vehicle city; the first (cold) left out")
    print(
        "step | messages | duration s | snapshot cost s (jobs) | snapshot file, s after metrics file | "
        "seen by the poll / baseline reader, s after metrics file"
    )
    fresh: dict[str, list[float]] = {name: [] for name in readers}
    for i, s in enumerate(steps):
        delays = {
            name: (r.seen[s["step"]] - s["metrics_file"]) if s["step"] in r.seen else None
            for name, r in readers.items()
        }
        shown = " / ".join(f"{d:+.2f}" if d is not None else "missed" for d in delays.values())
        ahead = s["snapshot_file"] - s["metrics_file"]
        print(
            f"{s['step']} | {s['messages']:,} | {s['duration_s']:.1f} | "
            f"{s['snapshot_cost_s']} ({s['snapshot_jobs']}) | {ahead:+.2f} | "
            f"{shown}{'  (cold)' if i == 0 else ''}"
        )
        if i > 0:
            for name, d in delays.items():
                if d is not None:
                    fresh[name].append(d)
    target = a.trigger + TARGET_SLACK_S
    result = {name: _stats(v) for name, v in fresh.items() if v}
    for name, every in (("poll", a.poll), ("baseline", a.refresh)):
        if name in result:
            print(
                f"{name} (every {every:g} s): the map shows a step {result[name]['median']:+.2f} s "
                f"(max {result[name]['max']:+.2f} s) after its metrics file; target <= {target:g} s"
            )
    warm = steps[1:]
    summary = {
        "freshness_poll_s": result.get("poll"),
        "freshness_baseline_s": result.get("baseline"),
        "target_s": target,
        "step_duration_s": _stats([s["duration_s"] for s in warm]),
        "snapshot_cost_s": _stats([s["snapshot_cost_s"] for s in warm if s["snapshot_cost_s"] is not None]),
        "snapshot_before_metrics_s": _stats([s["metrics_file"] - s["snapshot_file"] for s in warm]),
        "snapshot_spark_jobs": sorted({s["snapshot_jobs"] for s in warm}),
        "steps": a.steps,
        "vehicles": a.vehicles,
        "poll_s": a.poll,
        "refresh_s": a.refresh,
    }
    print(json.dumps(summary))
    met = "poll" in result and result["poll"]["max"] <= target
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
