"""``smartcity load``: merge the lake files not yet in the warehouse into it (local PostgreSQL)."""

from __future__ import annotations

import argparse

from smartcity.commands._common import add_stack_options, quiet_libraries, settings_from
from smartcity.errors import UsageError


def _load(args: argparse.Namespace) -> int:
    from smartcity.warehouse.load_map import SOURCES

    settings = settings_from(args)
    sources = SOURCES
    if args.source:
        known = {s.table: s for s in SOURCES}
        unknown = [n for n in args.source if n not in known]
        if unknown:
            raise UsageError(
                f"argument --source: unknown table {', '.join(unknown)} (known: {', '.join(known)})"
            )
        sources = tuple(known[n] for n in args.source)
    from smartcity.warehouse.loader import run_load

    with quiet_libraries(settings, "load"):
        report = run_load(settings, sources=sources)
    print("\n".join(report.lines()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "load",
        help="load new lake files into the warehouse (staging + MERGE, incremental, idempotent)",
        description="Read vehicle_enriched, raw_emergency and raw_weather through the Data Catalog, keep the "
        "files the warehouse's load ledger lacks, transform them with Spark and MERGE them into the "
        "warehouse in one transaction. Re-running is safe: nothing is loaded twice.",
    )
    add_stack_options(p)
    p.add_argument(
        "--source",
        action="append",
        metavar="TABLE",
        help="load only this catalog table (repeatable; default: all)",
    )
    p.set_defaults(handler=_load)
