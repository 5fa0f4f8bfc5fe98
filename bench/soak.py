"""Soak: the streaming job under the simulator at a steady rate for ``--minutes``, a report every ``--every``.

A private local stack (Kafka on free ports); the job runs as ``smartcity stream`` in its own process
(its Python driver, the Spark JVM it starts and the JVM's Python workers), the simulator in this one,
sending the city in real time at about ``--rate`` events/s with the usual faults. Every ``--every``
minutes one line: events/s acknowledged, resident memory (job driver, JVM, Python workers, simulator),
the enrichment state (rows and bytes of the live segments of the newest committed version), files per
lake partition (the newest raw/vehicle hour, and the most of any partition), raw/vehicle and
vehicle_enriched latency (p50/p95 of visible - acknowledged, for files that became visible in the window).

The windows start once the job has published its first step (its JVM start is not the soak).
Verdict, over the windows after ``--warmup-minutes`` (default: the de-dup horizon plus the watermark delay,
after which the state should stop growing): the least-squares slope of the job's RSS, of the state's rows
and of the raw p95 latency, times the measured span, must stay within the stated bounds
(``--rss-growth-pct``, ``--state-growth-pct`` of their mean; ``--latency-growth-s``). Then the simulator
stops, the job is stopped and drained (one ``--available-now`` run that flushes the windows) and the lake
is reconciled as the demo does (``smartcity.demo.reconcile``, without the warehouse): nothing lost.

The simulator's RSS includes this script's bookkeeping (acknowledgement times, forgotten after two
windows; the list of files seen). Figures on a shared machine are "under load". docs/reliability.md, "Soak".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from stream_probe import RAW_VEHICLE, FileLatency, TrackedSink, events_per_vehicle_second, fmt, pctl

from smartcity.compaction.committed_state import committed_version
from smartcity.compaction.run import HOURLY_TABLES
from smartcity.config import Settings, StreamSettings
from smartcity.demo.reconcile import reconcile
from smartcity.local.stack import LocalStack, private_stack_settings
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.faults import FaultConfig
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.world import WorldParams
from smartcity.stream.state_version import segment_folder

MB = 1024 * 1024
_DEFAULTS = StreamSettings()


@dataclass
class Window:
    """One report line's figures."""

    minute: float
    events_per_s: float
    rss_mb: dict[str, float]
    state_rows: int
    state_bytes: int
    newest_partition_files: int
    max_partition_files: int
    raw_p50: float | None
    raw_p95: float | None
    enriched_p50: float | None
    enriched_p95: float | None

    @property
    def job_rss_mb(self) -> float:
        return self.rss_mb["driver"] + self.rss_mb["jvm"] + self.rss_mb["workers"]


@dataclass
class Verdict:
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)


# ------------------------------------------------------------------------------------------ measures
def job_rss_mb(job: psutil.Process) -> dict[str, float]:
    """Resident MB of the job's Python driver, the JVM it started and the JVM's Python workers."""
    out = {"driver": job.memory_info().rss / MB, "jvm": 0.0, "workers": 0.0}
    for child in job.children(recursive=True):
        try:
            name, rss = child.name(), child.memory_info().rss / MB
        except psutil.NoSuchProcess:
            continue
        out["jvm" if name == "java" else "workers"] += rss
    return out


def state_size(checkpoint: Path) -> tuple[int, int]:
    """Rows and bytes of the live state segments of the newest committed version (Parquet footers only)."""
    version = committed_version(pafs.LocalFileSystem(), str(checkpoint))
    rows = size = 0
    for segment in version.segments if version else []:
        folder = checkpoint / segment_folder(segment.step, segment.kind)
        for f in folder.glob("*.parquet"):
            rows += pq.ParquetFile(f).metadata.num_rows
            size += f.stat().st_size
    return rows, size


def partition_files(lake: Path) -> tuple[int, int]:
    """Files in the newest raw/vehicle hour partition, and the most files in any hourly partition."""
    counts: dict[str, int] = {}
    for table in HOURLY_TABLES:
        for hour in (lake / table).glob("dt=*/hour=*"):
            counts[str(hour)] = sum(1 for _ in hour.glob("*.parquet"))
    newest = sorted((lake / RAW_VEHICLE).glob("dt=*/hour=*"))
    return (counts.get(str(newest[-1]), 0) if newest else 0), max(counts.values(), default=0)


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, value) points; 0 with fewer than two."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def judge(windows: list[Window], a: argparse.Namespace) -> Verdict:
    """Growth over the measured span (slope x span) of the post-warm-up windows against the bounds."""
    steady = [w for w in windows if w.minute > a.warmup_minutes]
    verdict = Verdict()
    if len(steady) < 2:
        verdict.checks.append(("trend", False, f"{len(steady)} window(s) after warm-up: need 2 or more"))
        return verdict
    span = steady[-1].minute - steady[0].minute

    def growth(label: str, values: list[float], bound: float, unit: str) -> None:
        points = list(zip([w.minute for w in steady], values, strict=True))
        grown = slope_per_minute(points) * span
        verdict.checks.append(
            (label, grown <= bound, f"grew {grown:+,.1f}{unit} over {span:g} min (bound {bound:,.1f}{unit})")
        )

    rss = [w.job_rss_mb for w in steady]
    growth("job RSS", rss, a.rss_growth_pct / 100 * sum(rss) / len(rss), " MB")
    sim = [w.rss_mb["simulator"] for w in steady]
    growth("simulator RSS", sim, a.rss_growth_pct / 100 * sum(sim) / len(sim), " MB")
    rows = [float(w.state_rows) for w in steady]
    growth("state rows", rows, a.state_growth_pct / 100 * max(1.0, sum(rows) / len(rows)), " rows")
    p95 = [w.raw_p95 for w in steady]
    if all(v is not None for v in p95):
        growth("raw p95 latency", [float(v) for v in p95 if v is not None], a.latency_growth_s, " s")
    else:
        verdict.checks.append(("raw p95 latency", False, "a window had no raw/vehicle rows"))
    return verdict


# ------------------------------------------------------------------------------------------ the run
def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SMARTCITY_LOCAL__HOME": str(settings.local.home),
            "SMARTCITY_LOCAL__KAFKA_PORT": str(settings.local.kafka_port),
            "SMARTCITY_LOCAL__MOTO_PORT": str(settings.local.moto_port),
            "SMARTCITY_LOCAL__POSTGRES_PORT": str(settings.local.postgres_port),
        }
    )
    return env


def _stream(settings: Settings, log: Path, *args: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "smartcity.cli", "stream", *args]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=_env(settings), stdout=out, stderr=subprocess.STDOUT)


def _metrics(lake: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((lake / "_metrics" / "stream").glob("*.json"))]


def print_window(w: Window) -> None:
    r = w.rss_mb
    print(
        f"[soak] {w.minute:5.1f} min: {w.events_per_s:,.0f} events/s | RSS MB driver {r['driver']:,.0f}, "
        f"JVM {r['jvm']:,.0f}, workers {r['workers']:,.0f}, simulator {r['simulator']:,.0f} | state "
        f"{w.state_rows:,} rows, {w.state_bytes / MB:,.1f} MB | files/partition newest "
        f"{w.newest_partition_files}, max {w.max_partition_files} | raw p50 {fmt(w.raw_p50)} p95 "
        f"{fmt(w.raw_p95)} | enriched p50 {fmt(w.enriched_p50)} p95 {fmt(w.enriched_p95)}",
        flush=True,
    )


def soak(settings: Settings, a: argparse.Namespace) -> tuple[list[Window], Verdict, bool]:
    lake = Path(settings.lake_uri.removeprefix("file://"))
    checkpoint = Path(settings.checkpoint_uri.removeprefix("file://"))
    log = Path(settings.local.home) / "soak-stream.log"
    job = _stream(settings, log)
    job_proc = psutil.Process(job.pid)
    me = psutil.Process()
    files = FileLatency(lake)
    files.start()
    sink = TrackedSink(settings)
    sink.check_connection()
    vehicles = max(1, round(a.rate / events_per_vehicle_second(settings)))
    late_delay_s = 2 * (_DEFAULTS.watermark_delay_s + _DEFAULTS.trigger_interval_s)
    faults = replace(FaultConfig.all_faults(a.fault_rate, seed=11), late_delay_s=late_delay_s)
    stop_city = threading.Event()
    manifests: list[dict[str, Any]] = []
    now_ms = epoch_ms(datetime.now(UTC))
    city = threading.Thread(
        target=lambda: manifests.append(
            Simulation(
                RunConfig(
                    world=WorldParams(vehicles=vehicles, seed=11),
                    faults=faults,
                    mode="realtime",
                    start_ms=now_ms - now_ms % 1000,
                ),
                sink,
            ).run(stop_city)
        ),
        name="soak-city",
    )
    print(f"[soak] {vehicles:,} vehicles (~{a.rate:,} events/s), {a.minutes:g} min, report every {a.every:g}")
    city.start()
    windows: list[Window] = []
    try:
        # The windows start with the job's first published step: a JVM's start is not the soak.
        t0 = time.monotonic()
        while not _metrics(lake):
            if job.poll() is not None or time.monotonic() - t0 > a.start_timeout_s:
                raise SystemExit(f"the streaming job published no step in {a.start_timeout_s:g} s; see {log}")
            time.sleep(1)
        print(f"[soak] first step of the job after {time.monotonic() - t0:.0f} s: windows start", flush=True)
        started = time.monotonic()
        acked_before, t_before = sink.acknowledged_total(), time.time()
        for k in range(1, int(a.minutes / a.every) + 1):
            time.sleep(max(0.0, started + k * a.every * 60 - time.monotonic()))
            if job.poll() is not None:
                raise SystemExit(f"the streaming job exited ({job.returncode}); see {log}")
            now = time.time()
            acked = sink.acknowledged_total()
            raw, enriched = files.latencies(sink, since=t_before, until=now)
            rows, size = state_size(checkpoint)
            newest, most = partition_files(lake)
            w = Window(
                minute=k * a.every,
                events_per_s=(acked - acked_before) / (now - t_before),
                rss_mb={**job_rss_mb(job_proc), "simulator": me.memory_info().rss / MB},
                state_rows=rows,
                state_bytes=size,
                newest_partition_files=newest,
                max_partition_files=most,
                raw_p50=pctl(raw, 50),
                raw_p95=pctl(raw, 95),
                enriched_p50=pctl(enriched, 50),
                enriched_p95=pctl(enriched, 95),
            )
            windows.append(w)
            print_window(w)
            sink.forget_before(t_before - a.every * 60)
            acked_before, t_before = acked, now
    finally:
        stop_city.set()
        city.join(120)
        sink.close()
        files.stop()
        if job.poll() is None:
            job.send_signal(signal.SIGTERM)  # the job stops between steps
            job.wait(600)
    # Drain what the job had not read yet and flush its windows, as the demo's last step does.
    drain = _stream(settings, log, "--available-now")
    if drain.wait(1800) != 0:
        raise SystemExit(f"the drain run failed; see {log}")
    verdict = judge(windows, a)
    steps = _metrics(lake)
    report = reconcile(settings, manifests, dict(steps[-1]["totals"]) if steps else {}, warehouse=False)
    for c in report.checks:
        print(f"[soak] reconcile {c.stage}: {c.left_label} {c.left:,} vs {c.right_label} {c.right:,}"
              f" {'ok' if c.ok else 'MISMATCH'}")  # fmt: skip
    return windows, verdict, report.ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="length of the soak (default 30)")
    ap.add_argument("--every", type=float, default=5.0, help="minutes per report line (default 5)")
    ap.add_argument("--rate", type=int, default=500, help="events/s the city sends (default 500)")
    ap.add_argument("--fault-rate", type=float, default=0.005, help="probability of each simulator fault")
    warmup = (_DEFAULTS.dedup_horizon_s + _DEFAULTS.watermark_delay_s) / 60
    ap.add_argument(
        "--warmup-minutes",
        type=float,
        default=round(warmup, 1),
        help=f"windows up to this minute are left out of the trend (default {warmup:.1f}: the de-dup "
        "horizon plus the watermark delay, when the state stops growing)",
    )
    ap.add_argument("--rss-growth-pct", type=float, default=10.0, help="bound on RSS growth, %% of its mean")
    ap.add_argument("--state-growth-pct", type=float, default=10.0, help="bound on state growth, %% of mean")
    ap.add_argument(
        "--start-timeout-s", type=float, default=900.0, help="wait at most this long for the job's first step"
    )
    ap.add_argument("--latency-growth-s", type=float, default=2.0, help="bound on raw p95 growth, seconds")
    a = ap.parse_args(argv)
    if a.minutes <= 0 or a.every <= 0 or a.every > a.minutes:
        ap.error("--minutes and --every must be > 0 and --every <= --minutes")
    if a.rate <= 0 or not 0 <= a.fault_rate <= 0.25:
        ap.error("--rate must be > 0 and --fault-rate in [0, 0.25]")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="smartcity-soak-"))
    settings = private_stack_settings(home)
    stack = LocalStack(settings)
    stack.up()
    try:
        windows, verdict, reconciled = soak(settings, a)
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
    for label, ok, detail in verdict.checks:
        print(f"[soak] {label}: {detail}: {'ok' if ok else 'FAIL'}")
    passed = verdict.ok and reconciled
    print(f"[soak] {'PASS' if passed else 'FAIL'}: trend {'ok' if verdict.ok else 'failed'}, "
          f"reconciliation {'ok' if reconciled else 'failed'}")  # fmt: skip
    print(json.dumps({"passed": passed, "windows": [w.__dict__ for w in windows], "reconciled": reconciled}))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
