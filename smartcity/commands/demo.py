"""``smartcity demo``: the whole pipeline on the local stack, ending with a reconciliation report.

Thin: flags → ``smartcity.demo``. Exit 0 only when every reconciliation line holds; the stack is left as
it was found (up if it was up), the data kept for exploration.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from smartcity.commands._common import add_stack_options, settings_from
from smartcity.commands.dashboard import DashboardDuring
from smartcity.errors import UsageError


def _positive(kind: type, name: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be > 0")
        return value

    return parse


class StageBoard:
    """The live progress display: one row per stage with its state and latest detail."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, float]] = {}
        self.started = time.monotonic()

    def update(self, stage: str, detail: str) -> None:
        self.rows[stage] = (detail, time.monotonic() - self.started)

    def render(self) -> Table:
        table = Table(title="smartcity demo", expand=True)
        table.add_column("stage", no_wrap=True)
        table.add_column("progress")
        table.add_column("t", justify="right", no_wrap=True)
        for stage, (detail, t) in self.rows.items():
            table.add_row(stage, detail, f"{t:5.0f} s")
        return table


def _demo(args: argparse.Namespace) -> int:
    from smartcity.demo.flow import DemoConfig, data_locations, run_demo
    from smartcity.demo.reconcile import reconcile
    from smartcity.demo.report import print_report
    from smartcity.demo.showcase import compare_all
    from smartcity.local.stack import LocalStack

    settings = settings_from(args)
    if settings.profile != "local":
        raise UsageError("the demo runs on the local stack (profile 'local')")
    config = DemoConfig(
        vehicles=args.vehicles,
        duration_s=args.duration,
        speed=args.speed,
        fault_rate=args.fault_rate,
        seed=args.seed,
        trigger=args.trigger,
    )
    console = Console()
    board = StageBoard()
    stack = LocalStack(settings)
    was_up = stack.is_up()
    result = None
    ok = False
    dashboard = DashboardDuring.start(settings) if args.dashboard else None
    try:
        with Live(board.render(), console=console, refresh_per_second=4, transient=False) as live:

            def progress(stage: str, detail: str) -> None:
                board.update(stage, detail)
                live.update(board.render())

            result = run_demo(settings, config, progress)
            progress("queries", "saved Athena queries (DuckDB) beside the warehouse views")
            comparisons = compare_all(settings)
            progress("queries", f"{sum(c.agree for c in comparisons)}/{len(comparisons)} agree")
            progress("reconcile", "counting the lake the way Athena lists it")
            recon = reconcile(settings, [result.manifest], result.stream_totals)
            progress("reconcile", "all lines hold" if recon.ok else "MISMATCH")
        print_report(console, result, comparisons, recon)
        ok = recon.ok and all(c.agree for c in comparisons)
    except KeyboardInterrupt:
        console.print("[yellow]demo interrupted: every process it started was stopped[/yellow]")
        raise
    finally:
        if dashboard is not None:
            dashboard.stop()
        if not was_up:
            stack.down()
        where = data_locations(settings)
        console.print("data kept for exploration: " + "; ".join(f"{k}: {v}" for k, v in where.items()))
        if not was_up:
            console.print("the stack was down before the demo and is down again; `smartcity up` to explore:")
        home = f"--home {settings.local.state_dir}"
        console.print(
            f"  smartcity up {home}; smartcity query vehicles_per_hour {home}; "
            f"smartcity query --sql 'SELECT count(*) FROM vehicle_enriched' {home}; "
            f"psql {settings.warehouse_dsn} -c 'SELECT count(*) FROM fact_vehicle_telemetry'"
        )
    console.print(
        "[bold green]demo OK: every reconciliation line holds[/bold green]"
        if ok
        else "[bold red]demo FAILED: see the lines marked ✗ above[/bold red]"
    )
    return 0 if ok else 1


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
    p.add_argument("--vehicles", type=_positive(int, "--vehicles"), default=100, help="default 100")
    p.add_argument(
        "--duration",
        type=_positive(float, "--duration"),
        default=600.0,
        help="simulated seconds (default 600 = 10 minutes)",
    )
    p.add_argument(
        "--speed",
        type=_positive(float, "--speed"),
        default=20.0,
        help="event-time speed-up while the streaming job runs (default 20)",
    )
    p.add_argument(
        "--fault-rate",
        type=float,
        default=0.005,
        help="rate of every fault: late, out-of-order, duplicate, malformed (default 0.005)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--trigger", default="5s", help="streaming micro-batch interval (default 5s)")
    p.set_defaults(handler=_demo)
