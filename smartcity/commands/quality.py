"""``smartcity quality [TABLE ...]``: evaluate the lake tables' data quality rules on the local lake.

Prints each rule's verdict, its offending row count (row-level rules) and what was measured. Exit codes
for scripts: 0 every rule passed, 1 some rule failed, 2 wrong arguments (e.g. an unknown table).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from smartcity.commands._common import add_stack_options, settings_from
from smartcity.quality.run import evaluate_tables, select, table_names

if TYPE_CHECKING:
    from smartcity.quality.local import TableResult

EXIT_RULE_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quality",
        help="evaluate the data quality rules of the lake tables (the rules Glue Data Quality runs in AWS)",
        description="Evaluate each table's rules on the lake with DuckDB and print every rule's verdict and "
        "offending row count. Exit 0 when every rule passed, 1 when a rule failed, 2 on wrong arguments.",
    )
    add_stack_options(parser)
    parser.add_argument(
        "table",
        nargs="*",
        metavar="TABLE",
        help=f"table to evaluate (default: all of {', '.join(table_names())})",
    )
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    parser.set_defaults(handler=_run)


def render(results: list[TableResult]) -> str:
    """The verdicts as text: one line per rule under a line per table."""
    lines: list[str] = []
    name_of = {path: name for name, path in table_names().items()}
    for table in results:
        status = "PASSED" if table.passed else f"FAILED ({len(table.failed)} of {len(table.results)} rules)"
        lines.append(f"{name_of[table.table]} ({table.table}): {table.row_count:,} rows, {status}")
        for r in table.results:
            offending = "-" if r.offending is None else f"{r.offending:,}"
            lines.append(f"  {r.verdict:<6}  {offending:>9}  {r.rule}  [{r.measured}]")
    return "\n".join(lines)


def as_json(results: list[TableResult]) -> list[dict[str, object]]:
    return [
        {
            "table": t.table,
            "evaluated_at": t.evaluated_at.isoformat(),
            "row_count": t.row_count,
            "passed": t.passed,
            "rules": [
                {"rule": r.rule, "verdict": r.verdict, "offending_rows": r.offending, "measured": r.measured}
                for r in t.results
            ],
        }
        for t in results
    ]


def _run(args: argparse.Namespace) -> int:
    tables = select(args.table)
    results = evaluate_tables(settings_from(args), tables)
    print(json.dumps(as_json(results), indent=2) if args.json else render(results))
    return 0 if all(t.passed for t in results) else EXIT_RULE_FAILED
