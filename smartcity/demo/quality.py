"""The demo's data quality stage: every table's rules evaluated on the lake after the load, as
``smartcity quality`` does, and their verdicts printed beside the reconciliation."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from smartcity.config import Settings
from smartcity.quality.local import TableResult
from smartcity.quality.run import evaluate_tables, select, table_names


def run_quality(settings: Settings, progress: Callable[[str, str], None]) -> list[TableResult]:
    """Evaluate every table's rules; progress says how many failed."""
    progress("data quality", "evaluating every table's rules on the lake (smartcity quality)")
    results = evaluate_tables(settings, select([]))
    failed = sum(len(t.failed) for t in results)
    rules = sum(len(t.results) for t in results)
    progress("data quality", f"{rules - failed}/{rules} rules passed")
    return results


def print_quality(console: Console, results: list[TableResult]) -> None:
    """One line per table: rows, rules passed, and each failed rule with its offending row count."""
    name_of = {path: name for name, path in table_names().items()}
    lines = Table(
        title="data quality (the Glue Data Quality rulesets, evaluated locally)", title_justify="left"
    )
    for c in ("", "table", "rows", "rules passed", "failed rules (offending rows)"):
        lines.add_column(c)
    for t in results:
        failed = "; ".join(
            f"{r.rule} ({'-' if r.offending is None else f'{r.offending:,}'}: {r.measured})" for r in t.failed
        )
        mark = "[green]✓[/green]" if t.passed else "[red]✗[/red]"
        passed = f"{len(t.results) - len(t.failed)}/{len(t.results)}"
        lines.add_row(mark, name_of[t.table], f"{t.row_count:,}", passed, failed)
    console.print(lines)
