"""``smartcity demo``: the whole pipeline on the local stack, ending with a reconciliation report.

Thin: flags → ``smartcity.demo``. Exit 0 only when every reconciliation line holds and every data quality
rule passed; the stack is left as it was found (up if it was up), the data kept for exploration.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from smartcity.commands._common import (
    add_stack_options,
    command_line,
    positive,
    positive_duration_s,
    quiet_libraries,
    settings_from,
)
from smartcity.commands.dashboard import DashboardDuring
from smartcity.commands.simulate import anomaly_rate
from smartcity.config import Settings
from smartcity.demo.flow import DemoConfig
from smartcity.errors import UsageError
from smartcity.simulate.faults import MAX_EACH_OF_ALL_FAULTS

if TYPE_CHECKING:
    from rich.console import Console


def _fault_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0.0 <= value <= MAX_EACH_OF_ALL_FAULTS:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and {MAX_EACH_OF_ALL_FAULTS:g} (each of the four faults gets this rate), "
            f"got {text}"
        )
    return value


def _trigger(text: str) -> str:
    positive_duration_s(text)  # validated here; the streaming job parses it again
    return text


@dataclass(frozen=True)
class DemoOption:
    """One flag of ``smartcity demo``, filling the ``DemoConfig`` field of the same meaning."""

    flag: str
    field: str
    parse: Callable[[str], object]
    help: str


# The demo's flags, in --help order. The default of each is the DemoConfig field's default.
DEMO_OPTIONS: tuple[DemoOption, ...] = (
    DemoOption("--vehicles", "vehicles", positive(int), "vehicles on the road"),
    DemoOption("--duration", "duration_s", positive(float), "simulated seconds"),
    DemoOption("--speed", "speed", positive(float), "event-time speed-up while the streaming job runs"),
    DemoOption(
        "--fault-rate",
        "fault_rate",
        _fault_rate,
        "rate of every fault: late, out-of-order, duplicate, malformed",
    ),
    DemoOption(
        "--anomaly-rate",
        "anomaly_rate",
        anomaly_rate,
        "injected anomalies per device-minute and kind, scored in the report (0: none)",
    ),
    DemoOption("--seed", "seed", int, "simulator seed (same seed, same city)"),
    DemoOption("--trigger", "trigger", _trigger, "streaming micro-batch interval"),
)


def demo_config(args: argparse.Namespace) -> DemoConfig:
    """The run's configuration from the parsed flags (every value already validated by its type)."""
    return DemoConfig(**{o.field: getattr(args, o.field) for o in DEMO_OPTIONS})


def follow_up_commands(settings: Settings) -> list[list[str]]:
    """What to run after the demo to explore its data (``smartcity`` arguments, program not included)."""
    home = ["--home", str(settings.local.state_dir)]
    return [
        ["up", *home],
        ["query", "--list", *home],
        [
            "query",
            "--sql",
            "SELECT weather_condition, count(*) AS events, round(avg(speed), 1) AS avg_kmh "
            "FROM vehicle_enriched GROUP BY 1 ORDER BY 1",
            *home,
        ],
    ]


def _psql_line(settings: Settings) -> str:
    """The warehouse in psql, with the psql that ships with the embedded PostgreSQL (nothing to install)."""
    from smartcity.local.postgres import psql_path

    return shlex.join(
        [str(psql_path()), settings.warehouse_dsn, "-c", "SELECT count(*) FROM fact_vehicle_telemetry"]
    )


def _demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    settings = settings_from(args)
    if settings.profile != "local":
        raise UsageError("the demo runs on the local stack (profile 'local')")
    config = demo_config(args)
    # Every argument is valid: only from here on may the demo change the stack and its data.
    console = Console()
    with quiet_libraries(settings, "demo") as run:
        console.print(f"smartcity demo: library logs of this run in {run.directory}", highlight=False)
        ok = _run_stages(console, settings, config, dashboard=args.dashboard)
    console.print(
        "demo OK: every reconciliation line and data quality rule holds"
        if ok
        else "demo FAILED: see the lines marked ✗ above",
        style="bold green" if ok else "bold red",
    )
    return 0 if ok else 1


def _run_stages(console: Console, settings: Settings, config: DemoConfig, *, dashboard: bool) -> bool:
    """The demo's stages, report and closing hints; True when every reconciliation line holds."""
    from smartcity.demo.anomalies import print_anomaly_scores
    from smartcity.demo.board import stage_view
    from smartcity.demo.flow import data_locations, run_demo
    from smartcity.demo.quality import print_quality, run_quality
    from smartcity.demo.reconcile import reconcile
    from smartcity.demo.report import print_report
    from smartcity.demo.showcase import compare_all
    from smartcity.local.stack import LocalStack

    stack = LocalStack(settings)
    was_up = stack.is_up()
    ok = False
    live_dashboard = DashboardDuring.start(settings) if dashboard else None
    try:
        with stage_view(console, "smartcity demo") as progress:
            result = run_demo(settings, config, progress)
            progress("queries", "saved Athena queries (DuckDB) beside the warehouse views")
            comparisons = compare_all(settings)
            progress("queries", f"{sum(c.agree for c in comparisons)}/{len(comparisons)} agree")
            progress("reconcile", "counting the lake the way Athena lists it")
            recon = reconcile(settings, [result.manifest], result.stream_totals)
            progress("reconcile", "all lines hold" if recon.ok else "MISMATCH")
            quality = run_quality(settings, progress)
        print_report(console, result, comparisons, recon)
        print_quality(console, quality)
        print_anomaly_scores(console, settings, [result.manifest])
        ok = recon.ok and all(c.agree for c in comparisons) and all(t.passed for t in quality)
    except KeyboardInterrupt:
        console.print("demo interrupted: every process it started was stopped", style="yellow")
        raise
    finally:
        _stop_spark()
        if live_dashboard is not None:
            live_dashboard.stop()
        if not was_up:
            stack.down()
        where = data_locations(settings)
        console.print("data kept for exploration: " + "; ".join(f"{k}: {v}" for k, v in where.items()))
        steps = [command_line(*cmd) for cmd in follow_up_commands(settings)]
        if was_up:
            steps = steps[1:]
        else:
            console.print("the stack was down before the demo and is down again; to explore, run:")
        for line in [*steps, _psql_line(settings)]:
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    return ok


def _stop_spark() -> None:
    """Stop the in-process Spark session (the loader's), so its JVM exits and removes its files now."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline locally end to end and reconcile every stage",
        description="Bring the local stack up (or reuse it), clear the pipeline's data, run the simulator "
        "while the streaming job runs, let the event-driven flow crawl and load, run saved "
        "queries beside the warehouse views, and reconcile every stage. Exit 0 only if all "
        "reconciliation lines hold.",
    )
    add_stack_options(p)
    p.add_argument("--dashboard", action="store_true", help="open the live dashboard during the demo")
    defaults = {f.name: f.default for f in fields(DemoConfig)}
    for option in DEMO_OPTIONS:
        default = defaults[option.field]
        p.add_argument(
            option.flag,
            dest=option.field,
            type=option.parse,
            default=default,
            help=f"{option.help} (default {default})",
        )
    p.set_defaults(handler=_demo)
