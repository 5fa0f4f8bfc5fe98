"""The demo's stages, in the order the data flows: stack → simulator + streaming job → event-driven
crawl and load → queries → reconciliation.

Each stage calls the same code the product runs: the simulator and the streaming job through the CLI
(the streaming job in its own process, as on Glue), the orchestration through the handlers' decision code
with real-shaped EventBridge events (``smartcity.orchestrate.local``), the crawler and the loader through
their Python APIs. Nothing here computes a result the pipeline should have computed itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartcity.config import Settings
from smartcity.errors import SmartCityError
from smartcity.local import runlog
from smartcity.simulate.anomalies import AnomalyConfig

Progress = Callable[[str, str], None]
# The final drain is given this long before the demo calls it hung: a guard against a stuck job, not a
# performance target (on a busy 2-core machine a drain of the default demo's events has taken minutes).
DRAIN_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class DemoConfig:
    """A bounded run: the simulated span, how fast it is played, the fault rate and the anomaly rate."""

    vehicles: int = 100
    duration_s: float = 600.0
    speed: float = 20.0
    fault_rate: float = 0.005
    anomaly_rate: float = AnomalyConfig.DEFAULT_RATE
    seed: int = 42
    scenario: str = "london"
    trigger: str = "5s"


@dataclass
class StageResult:
    name: str
    seconds: float
    summary: str


@dataclass
class DemoResult:
    stages: list[StageResult] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    stream_totals: dict[str, int] = field(default_factory=dict)
    stream_batches: list[dict[str, Any]] = field(default_factory=list)
    crawled_tables: list[str] = field(default_factory=list)
    loads: list[Any] = field(default_factory=list)
    queries: list[Any] = field(default_factory=list)


class DemoFailed(SmartCityError):
    """A stage of the demo could not complete; the message names the stage."""


def _cli(settings: Settings, *args: str) -> list[str]:
    home = ["--home", str(settings.local.state_dir)]
    return [sys.executable, "-m", "smartcity.cli", *args, *home, "--lake", settings.lake]


@contextlib.contextmanager
def _stage(result: DemoResult, name: str, progress: Progress) -> Iterator[list[str]]:
    """Time a stage; the body appends its one-line summary to the yielded list."""
    progress(name, "running")
    t0 = time.monotonic()
    summary: list[str] = []
    try:
        yield summary
    except SmartCityError as exc:
        progress(name, f"failed: {exc}")
        raise DemoFailed(f"{name}: {exc}") from None
    seconds = time.monotonic() - t0
    text = summary[0] if summary else "done"
    result.stages.append(StageResult(name, seconds, text))
    progress(name, f"done in {seconds:.1f} s: {text}")


class StreamProcess:
    """``smartcity stream`` in its own process group, so Ctrl-C or a failure never leaves it behind."""

    def __init__(self, settings: Settings, log_name: str, *args: str) -> None:
        self.log_path = runlog.current(settings.local.state_dir, "demo").path(log_name)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            _cli(settings, "stream", *args),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self, timeout: float = 120.0) -> int:
        """SIGTERM (the job finishes its micro-batch and stops), SIGKILL if it does not within ``timeout``."""
        if self.proc.poll() is None:
            # SIGTERM to the Python driver only: its JVM child shares the process group and must live
            # until the driver has finished the micro-batch; the group is killed only as a last resort.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self._log.close()
        return int(self.proc.returncode or 0)

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop(5)
            raise DemoFailed(
                f"streaming job did not finish within {timeout:.0f} s (logs in {self.log_path.parent})"
            ) from None
        self._log.close()
        return int(code)

    def alive(self) -> bool:
        return self.proc.poll() is None


def simulate_and_stream(
    settings: Settings,
    config: DemoConfig,
    result: DemoResult,
    progress: Progress,
    children: list[StreamProcess],
) -> None:
    """The simulator plays the span while the streaming job runs; then the job drains and flushes."""
    from smartcity.simulate.clock import default_start_ms
    from smartcity.simulate.encode import epoch_ms
    from smartcity.simulate.faults import FaultConfig
    from smartcity.simulate.runner import RunConfig, Simulation
    from smartcity.simulate.sinks import KafkaSink, kafka_config
    from smartcity.simulate.world import WorldParams

    with _stage(result, "simulate + stream", progress) as summary:
        job = StreamProcess(settings, "stream-live.out", "--trigger", config.trigger)
        children.append(job)
        now_ms = epoch_ms(datetime.now(UTC))
        run = RunConfig(
            world=WorldParams(scenario=config.scenario, vehicles=config.vehicles, seed=config.seed),
            faults=FaultConfig.all_faults(rate=config.fault_rate, seed=config.seed),
            anomalies=AnomalyConfig(rate=config.anomaly_rate, seed=config.seed),
            mode="realtime" if config.speed > 0 else "backfill",
            speed=config.speed if config.speed > 0 else 1.0,
            start_ms=default_start_ms(
                "realtime" if config.speed > 0 else "backfill", config.speed or 1.0, config.duration_s, now_ms
            ),
            duration_s=config.duration_s,
            manifest_path=settings.local.state_dir
            / "manifests"
            / f"demo-{time.strftime('%Y%m%dT%H%M%S')}.json",
        )
        sink = KafkaSink(kafka_config(settings), settings.topics.all())
        sink.check_connection()
        stop = threading.Event()

        def on_progress(p: Any) -> None:
            acked = p.acknowledged
            rate = acked / p.elapsed_s if p.elapsed_s > 0 else 0.0
            running = "running" if job.alive() else "STOPPED"
            progress(
                "simulate + stream", f"{acked:,} events acknowledged ({rate:,.0f}/s); stream job {running}"
            )
            if not job.alive():
                stop.set()

        manifest = Simulation(run, sink).run(stop, on_progress=on_progress)
        result.manifest = manifest
        if not job.alive():
            raise DemoFailed(
                f"the streaming job stopped during the simulation (logs in {job.log_path.parent})"
            )
        progress("simulate + stream", "simulator done; stopping the streaming job after its micro-batch")
        job.stop()
        progress("simulate + stream", "draining Kafka and closing the open windows (--available-now)")
        drain = StreamProcess(settings, "stream-drain.out", "--available-now")
        children.append(drain)
        code = drain.wait(timeout=DRAIN_TIMEOUT_S)
        if code != 0:
            raise DemoFailed(
                f"the streaming job's final drain failed with exit code {code} "
                f"(logs in {drain.log_path.parent})"
            )
        totals = manifest["totals"]
        summary.append(
            f"{totals['acknowledged']:,} events produced and acknowledged, "
            f"{totals['malformed_total']:,} malformed injected; stream drained"
        )
    result.stream_batches, result.stream_totals = _stream_metrics(settings)


def _stream_metrics(settings: Settings) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The job's per-step metrics files (``_metrics/stream/``), read like any lake reader would."""
    import json

    from smartcity.catalog.lake_files import open_lake_files

    lake = open_lake_files(settings)
    files = sorted(lake.list_files(lake.fs_path("_metrics/stream")), key=lambda f: f.relative)
    batches = []
    for f in files:
        if f.relative.endswith(".json"):
            with lake.fs.open_input_stream(f.fs_path) as fh:
                batches.append(json.loads(fh.read().decode()))
    totals: dict[str, int] = dict(batches[-1]["totals"]) if batches else {}
    return batches, totals


def _new_lake_keys(settings: Settings, seen: set[str]) -> list[tuple[str, int]]:
    """Every file now in the lake that the event flow has not been told about (as S3 would emit)."""
    from smartcity.catalog.lake_files import open_lake_files

    lake = open_lake_files(settings)
    out = []
    for f in lake.list_files(lake.fs_path("")):
        if f.relative not in seen:
            seen.add(f.relative)
            out.append((f.relative, f.size))
    return sorted(out)


def event_driven_flow(settings: Settings, result: DemoResult, progress: Progress, seen: set[str]) -> None:
    """New files → on-new-files handler → crawls → crawl-finished handler → load → load-finished."""
    from smartcity.catalog.crawler import crawl
    from smartcity.catalog.tables import LAKE_TABLES
    from smartcity.orchestrate import local
    from smartcity.orchestrate.lake_keys import crawler_name
    from smartcity.warehouse.loader import run_load
    from smartcity.warehouse.migrate import migrate
    from smartcity.warehouse.postgres import PostgresSession

    with _stage(result, "crawl + load (event-driven)", progress) as summary:
        local.ensure_resources(settings)
        with PostgresSession.open(settings.warehouse_dsn) as session:
            migrate(session, "postgres")
        # crawler name (from the table's lake folder, as the template names them) -> catalog table name
        crawlers = {crawler_name(settings.crawler_prefix, t.path): t.name for t in LAKE_TABLES}
        keys = _new_lake_keys(settings, seen)
        progress("crawl + load (event-driven)", f"{len(keys):,} new objects → on-new-files handler")
        pending_crawls: list[str] = []
        for key, size in keys:
            outcome = local.on_new_files(settings, local.object_created_event(settings, key, size))
            pending_crawls += outcome.started
        pending_loads: list[str] = []
        crawled: list[str] = []
        while pending_crawls or pending_loads:
            if pending_crawls:
                crawler = pending_crawls.pop(0)
                table = crawlers[crawler]
                progress("crawl + load (event-driven)", f"crawler {crawler}: smartcity crawl {table}")
                crawl(settings, tables=[table])
                crawled.append(table)
                outcome = local.crawl_finished(settings, crawler)
                pending_crawls += outcome.started
                pending_loads += outcome.loads_started
                continue
            run_id = pending_loads.pop(0)
            progress("crawl + load (event-driven)", f"load job run {run_id}: smartcity load")
            report = run_load(settings)
            result.loads.append(report)
            outcome = local.load_finished(settings, run_id, "SUCCEEDED")
            pending_crawls += outcome.started
            pending_loads += outcome.loads_started
        result.crawled_tables = crawled
        rows = sum(r.rows_inserted for r in result.loads)
        summary.append(
            f"{len(keys):,} object events, {len(crawled)} crawls, {len(result.loads)} load(s)"
            + (f", {rows:,} rows inserted" if rows else "")
        )


def run_demo(settings: Settings, config: DemoConfig, progress: Progress) -> DemoResult:
    """Run every stage up to the load; the caller leaves the stack as it found it."""
    from smartcity.demo.reset import reset_pipeline_state
    from smartcity.local.stack import LocalStack

    result = DemoResult()
    children: list[StreamProcess] = []
    try:
        with _stage(result, "local stack", progress) as summary:
            report = LocalStack(settings).up()
            summary.append(
                "reused the running stack"
                if not report.started
                else f"started {', '.join(report.started)} in {report.seconds:.1f} s"
            )
        with _stage(result, "reset", progress) as summary:
            reset_pipeline_state(settings)
            summary.append("topics, lake, checkpoints, catalog and warehouse cleared")
        simulate_and_stream(settings, config, result, progress, children)
        event_driven_flow(settings, result, progress, set())
    finally:
        for child in children:
            child.stop(timeout=30)
    return result


def data_locations(settings: Settings) -> dict[str, str]:
    home = Path(settings.local.state_dir)
    return {
        "lake": settings.lake_uri,
        "checkpoints": settings.checkpoint_uri,
        "warehouse": settings.warehouse_dsn,
        "catalog (moto)": f"{settings.aws_endpoint_url} database {settings.catalog_database}",
        "logs": str(runlog.logs_root(home)),
    }
