"""The demo's printed report: stage figures, query results beside the views, reconciliation lines."""

from __future__ import annotations

import statistics
from typing import Any

from rich.console import Console
from rich.table import Table

from smartcity.demo.flow import DemoResult
from smartcity.demo.reconcile import Reconciliation
from smartcity.demo.showcase import Comparison

MAX_ROWS = 8


def stage_figures(result: DemoResult) -> list[tuple[str, str]]:
    """events/s and latency per stage, from the manifest, the job's metrics and the load reports."""
    out: list[tuple[str, str]] = []
    run = result.manifest.get("run", {})
    totals = result.manifest.get("totals", {})
    wall = float(run.get("wall_seconds") or run.get("elapsed_s") or 0)
    if wall > 0:
        out.append(
            (
                "simulator",
                f"{totals.get('acknowledged', 0):,} events in {wall:.1f} s "
                f"({totals.get('acknowledged', 0) / wall:,.0f} events/s)",
            )
        )
    batches = [b for b in result.stream_batches if sum(b.get("rows_in", {}).values()) > 0]
    if batches:
        rows = sum(sum(b["rows_in"].values()) for b in batches)
        busy = sum(float(b.get("duration_s", 0)) for b in batches)
        lags = [float(b["event_time_lag_s"]) for b in batches if b.get("event_time_lag_s") is not None]
        lag = ""
        if lags:
            p95 = sorted(lags)[max(0, round(0.95 * len(lags)) - 1)]
            lag = f"; event-time lag at batch end p50 {statistics.median(lags):.1f} s, p95 {p95:.1f} s"
        out.append(
            (
                "streaming job",
                f"{rows:,} messages in {len(batches)} micro-batches, "
                f"{rows / busy if busy else 0:,.0f} rows/s while busy{lag}",
            )
        )
    for report in result.loads:
        if report.rows_read:
            out.append(
                (
                    "warehouse load",
                    f"read {report.rows_read:,}, inserted {report.rows_inserted:,}, "
                    f"updated {report.rows_updated:,} in {report.duration_s:.1f} s "
                    f"({report.rows_read / max(report.duration_s, 1e-9):,.0f} rows/s)",
                )
            )
    return out


def _table(title: str, columns: list[str], rows: list[tuple[Any, ...]]) -> Table:
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(str(c))
    for r in rows[:MAX_ROWS]:
        table.add_row(*("" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)) for v in r))
    if len(rows) > MAX_ROWS:
        table.add_row(*(["…"] * len(columns)))
    return table


def print_report(
    console: Console, result: DemoResult, comparisons: list[Comparison], recon: Reconciliation
) -> None:
    stages = Table(title="stages", title_justify="left")
    for c in ("stage", "seconds", "summary"):
        stages.add_column(c)
    for s in result.stages:
        stages.add_row(s.name, f"{s.seconds:.1f}", s.summary)
    console.print(stages)
    for name, text in stage_figures(result):
        console.print(f"  {name}: {text}")

    for comp in comparisons:
        console.print(f"\n[bold]{comp.name}[/bold]: {comp.question}")
        console.print(
            _table("Athena saved query (DuckDB over the catalogued lake)", comp.columns, comp.athena_rows)
        )
        console.print(_table("warehouse view (PostgreSQL)", comp.columns, comp.warehouse_rows))
        console.print("  agree: " + ("[green]yes[/green]" if comp.agree else "[red]NO[/red]"))

    lines = Table(title="reconciliation", title_justify="left")
    for c in ("", "stage", "left", "", "right"):
        lines.add_column(c)
    for chk in recon.checks:
        mark = "[green]✓[/green]" if chk.ok else "[red]✗[/red]"
        lines.add_row(
            mark,
            chk.stage,
            f"{chk.left_label} {chk.left:,}",
            "=" if chk.ok else "≠",
            f"{chk.right_label} {chk.right:,}",
        )
    console.print(lines)
    if recon.quarantine_reasons:
        q = Table(title="quarantine reasons", title_justify="left")
        for c in ("topic", "reason", "messages"):
            q.add_column(c)
        for (topic, reason), n in sorted(recon.quarantine_reasons.items()):
            q.add_row(topic, reason, f"{n:,}")
        console.print(q)
