"""Where a warm step of the streaming job goes: its Spark jobs and the driver's calls into the JVM.

Runs the full job over ``--slices`` consecutive slices of the simulator's city (the city of
``bench_stream.py``: ``--vehicles``, every fault at 0.5 %, 10 simulated seconds per slice), one step per
slice, against a private local stack, and prints per step: its duration and phases (the job's own
metrics), the number of Py4J commands the driver sent to the JVM (each is a socket round trip, and
building a step's DataFrames sends thousands), and every Spark job with its description, seconds and
tasks. The last line is one JSON object with the warm steps' medians. The first step is cold (JVM,
Python workers, code generation) and left out of the medians.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_stream import City

from smartcity.local.stack import LocalStack, private_stack_settings
from smartcity.stream.hadoop_fs import HadoopFS
from smartcity.stream.metrics import read_metrics

SLICE_S = 10
FAULT_RATE = 0.005


class JvmCalls:
    """Counts the Py4J commands every driver thread sends (wraps the client's one send method)."""

    def __init__(self) -> None:
        from py4j import clientserver

        self.count = 0
        self._lock = threading.Lock()
        self._client = clientserver.JavaClient
        self._send = self._client.send_command

        def counting(client: Any, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.count += 1
            return self._send(client, *args, **kwargs)

        self._client.send_command = counting  # type: ignore[method-assign]

    def close(self) -> None:
        self._client.send_command = self._send  # type: ignore[method-assign]


def spark_jobs(spark: Any, first_id: int) -> list[dict[str, Any]]:
    """Every Spark job from ``first_id`` on, from the context's status store (no UI needed)."""
    listed = spark.sparkContext._jsc.sc().statusStore().jobsList(None)
    jobs = []
    for i in range(listed.size()):
        job = listed.apply(i)
        if job.jobId() < first_id:
            continue
        submitted, completed = job.submissionTime(), job.completionTime()
        seconds = (
            (completed.get().getTime() - submitted.get().getTime()) / 1000
            if submitted.isDefined() and completed.isDefined()
            else None
        )
        description = job.description().get() if job.description().isDefined() else job.name()
        jobs.append(
            {
                "id": int(job.jobId()),
                "description": str(description).splitlines()[0],
                "seconds": seconds,
                "tasks": int(job.numTasks()),
            }
        )
    return sorted(jobs, key=lambda j: j["id"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=1_200, help="fleet of the city")
    ap.add_argument("--slices", type=int, default=5, help="steps to run (the first is cold), >= 2")
    a = ap.parse_args(argv)
    if not 1 <= a.vehicles <= 10_000:
        ap.error("--vehicles must be between 1 and 10000")
    if a.slices < 2:
        ap.error("--slices must be >= 2 (the first step is cold)")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="smartcity-bench-anatomy-"))
    settings = private_stack_settings(home)
    stack = LocalStack(settings)
    stack.up()
    calls = None
    try:
        from smartcity.spark import local_session
        from smartcity.stream.job import StreamJob

        spark = local_session(
            "smartcity-bench-anatomy", shuffle_partitions=settings.stream.shuffle_partitions
        )
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=SLICE_S * a.slices + 60)
        city = City(settings, a.vehicles, start, FAULT_RATE)
        job = StreamJob(spark, settings, settings.stream.with_overrides(flush_on_drain=False))
        calls = JvmCalls()
        per_step: list[dict[str, Any]] = []
        for n in range(a.slices):
            produced = city.produce(SLICE_S, end_of_volume=False)
            first_job = int(spark.sparkContext._jsc.sc().dagScheduler().nextJobId())
            before = calls.count
            job.run(available_now=True, install_signals=False)
            sent = calls.count - before
            jobs = spark_jobs(spark, first_job)
            metrics = read_metrics(HadoopFS(spark), settings.lake_uri)[-1]
            per_step.append({"seconds": metrics["duration_s"], "jvm_calls": sent, "spark_jobs": len(jobs)})
            print(
                f"step {n}{' (cold)' if n == 0 else ''}: {produced['acknowledged']:,} messages, "
                f"{metrics['duration_s']:.2f} s, {sent:,} JVM calls (the run's query start included), "
                f"{len(jobs)} Spark jobs; phases: "
                + ", ".join(f"{k} {v:.2f}" for k, v in metrics["phases"].items())
            )
            for j in jobs:
                seconds = "-" if j["seconds"] is None else f"{j['seconds']:.2f} s"
                print(f"    job {j['id']:4d} {seconds:>8} {j['tasks']:3d} tasks  {j['description'][:100]}")
        spark.stop()
    finally:
        if calls is not None:
            calls.close()
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
    warm = per_step[1:]
    print(
        json.dumps(
            {
                "vehicles": a.vehicles,
                "warm_steps": len(warm),
                "step_s": round(statistics.median(s["seconds"] for s in warm), 3),
                "jvm_calls_per_step": statistics.median(s["jvm_calls"] for s in warm),
                "spark_jobs_per_step": statistics.median(s["spark_jobs"] for s in warm),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
