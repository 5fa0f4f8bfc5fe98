"""``smartcity crawl [--table T]``: the local Glue crawler run over the lake (see smartcity.catalog)."""

from __future__ import annotations

import argparse
import json

from smartcity.catalog import table_names
from smartcity.commands._common import add_stack_options, quiet_libraries, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "crawl",
        help="catalogue the lake's tables and partitions in the Glue Data Catalog (local crawler)",
        description="Scan the lake, read Parquet schemas, register tables and new partitions. Idempotent.",
    )
    add_stack_options(parser)
    parser.add_argument(
        "--table", action="append", choices=table_names(), help="crawl only this table (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print the crawl report as JSON")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from smartcity.catalog import crawl

    settings = settings_from(args)
    with quiet_libraries(settings, "crawl"):
        report = crawl(settings, args.table)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 0
