"""Anomaly detection benchmark: precision and recall per kind against the simulator's ground truth.

Two runs of the same city through a private local broker (free ports, a temporary home) and the streaming
job (``available_now``: everything in Kafka, then the open windows closed), each into its own lake and
checkpoint with the topics recreated in between:

1. *clean*: the simulator without injection. Every anomaly the job raises is a false alarm.
2. *injected*: the same city with anomalies injected at ``--anomaly-rate`` (default: the simulator's
   default rate), recorded in the manifest; the job's ``anomalies`` table is scored against it
   (``smartcity.anomaly.scoring``: TP/FP/FN, precision, recall per kind).

The default city is the London → Birmingham drive: its 54 weather stations give the two weather kinds
as many cases as the vehicle kinds get from ``--vehicles`` vehicles over ``--duration`` simulated seconds.

Targets: precision and recall >= 0.95 on every kind; no anomaly raised on the clean run. Exit 1 when one
is missed. Human-readable figures go to stdout, the last line is one JSON object; Spark's logs go to
stderr (large: redirect it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console

from smartcity.anomaly.scoring import score_manifests
from smartcity.catalog.lake_files import open_lake_files
from smartcity.config import Settings
from smartcity.demo.anomalies import TARGET, raised_anomalies, scores_table
from smartcity.demo.reset import reset_topics
from smartcity.local.kafka import KafkaBroker
from smartcity.local.stack import private_stack_settings
from smartcity.simulate.anomalies import AnomalyConfig
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.scenarios import SCENARIOS
from smartcity.simulate.sinks import KafkaSink, kafka_config
from smartcity.simulate.world import WorldParams

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="london-birmingham")
    p.add_argument("--vehicles", type=int, default=25)
    p.add_argument("--duration", type=float, default=2400.0, help="simulated seconds per run")
    p.add_argument("--anomaly-rate", type=float, default=AnomalyConfig.DEFAULT_RATE)
    p.add_argument("--seed", type=int, default=11)
    return p.parse_args(argv)


def run_once(
    spark: SparkSession, settings: Settings, home: Path, label: str, rate: float, a: argparse.Namespace
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, float]]:
    """Simulate into fresh topics, drain with the streaming job into a fresh lake; the manifest and the
    anomalies table's rows, and the seconds each half took."""
    from smartcity.stream.job import StreamJob

    run_settings = settings.model_copy(
        update={
            "lake_uri": (home / label / "lake").as_uri(),
            "checkpoint_uri": (home / label / "checkpoints").as_uri(),
        }
    )
    reset_topics(run_settings)
    now_ms = epoch_ms(datetime.now(UTC))
    config = RunConfig(
        world=WorldParams(scenario=a.scenario, vehicles=a.vehicles, seed=a.seed),
        anomalies=AnomalyConfig(rate=rate, seed=a.seed),
        mode="backfill",
        start_ms=now_ms - int(a.duration * 1000),
        duration_s=a.duration,
    )
    t0 = time.monotonic()
    manifest = Simulation(config, KafkaSink(kafka_config(run_settings), run_settings.topics.all())).run()
    if not manifest["complete"]:
        raise SystemExit(f"{label}: simulator run incomplete: {manifest['last_error']}")
    t1 = time.monotonic()
    StreamJob(spark, run_settings, run_settings.stream).run(available_now=True, install_signals=False)
    t2 = time.monotonic()
    rows = raised_anomalies(open_lake_files(run_settings))
    events = manifest["totals"]["acknowledged"]
    print(
        f"{label}: {events:,} events simulated in {t1 - t0:.1f} s, drained by the job in {t2 - t1:.1f} s; "
        f"{len(manifest.get('anomalies', [])):,} anomalies injected "
        f"({len(manifest.get('anomalies_incomplete', [])):,} more cut short by the end), "
        f"{len(rows):,} raised",
        flush=True,
    )
    return manifest, rows, {"simulate_s": round(t1 - t0, 1), "stream_s": round(t2 - t1, 1), "events": events}


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    # SIGTERM ends the run through the finally below, so the private broker never outlives the bench.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    home = Path(tempfile.mkdtemp(prefix="smartcity-bench-anomalies-"))
    settings = private_stack_settings(home)
    broker = KafkaBroker(settings)  # the job and the simulator need only the broker
    broker.start()
    try:
        from smartcity.spark import local_session

        spark = local_session(
            "smartcity-bench-anomalies",
            shuffle_partitions=settings.stream.shuffle_partitions,
            settings=settings,
        )
        _, clean_rows, clean_t = run_once(spark, settings, home, "clean", 0.0, a)
        manifest, rows, injected_t = run_once(spark, settings, home, "injected", a.anomaly_rate, a)
        spark.stop()
    finally:
        broker.stop()
        shutil.rmtree(home, ignore_errors=True)

    scores = score_manifests(rows, [manifest])
    Console(width=120).print(scores_table(scores, f"injected run (rate {a.anomaly_rate} per device-minute)"))
    clean_by_rule: dict[str, int] = {}
    for r in clean_rows:
        clean_by_rule[r["rule"]] = clean_by_rule.get(r["rule"], 0) + 1
    print(f"clean run: {len(clean_rows)} anomalies raised (target 0) {clean_by_rule or ''}")
    missed = [k for k, s in scores.items() if not s.meets(TARGET)]
    ok = not missed and not clean_rows
    print(
        "all targets met"
        if ok
        else f"targets missed: {', '.join(missed) or 'none per kind'}; clean run raised {len(clean_rows)}"
    )
    result = {
        "scenario": a.scenario,
        "vehicles": a.vehicles,
        "duration_s": a.duration,
        "anomaly_rate": a.anomaly_rate,
        "clean_raised": len(clean_rows),
        "kinds": {
            k: {
                "injected": s.injected,
                "raised": s.raised,
                "tp": s.true_positives,
                "fp": s.false_positives,
                "fn": s.false_negatives,
                "precision": s.precision,
                "recall": s.recall,
            }
            for k, s in scores.items()
        },
        "clean": clean_t,
        "injected": injected_t,
        "ok": ok,
    }
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
