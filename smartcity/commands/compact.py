"""``smartcity compact``: rewrite the lake's closed hourly partitions into a few large ones.

A local lake swaps directories (``smartcity.compaction.run``); an S3 lake writes a new prefix and swaps
the catalog partition's location (``smartcity.compaction.s3_run``), the code the AWS Glue job runs.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from smartcity.commands._common import add_stack_options, settings_from
from smartcity.compaction.plan import DEFAULT_GRACE_MINUTES, DEFAULT_TARGET_MB
from smartcity.config import Settings, StreamSettings
from smartcity.errors import UsageError

_DEFAULTS = StreamSettings()


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "compact", help="merge the small files of closed partitions (raw, vehicle_enriched) into large ones"
    )
    add_stack_options(p)
    p.add_argument(
        "--target-mb",
        type=float,
        default=DEFAULT_TARGET_MB,
        help=f"output file size (default {DEFAULT_TARGET_MB})",
    )
    p.add_argument(
        "--watermark-delay",
        type=float,
        default=_DEFAULTS.watermark_delay_s,
        help=f"the streaming job's watermark delay in seconds (default {_DEFAULTS.watermark_delay_s:g})",
    )
    p.add_argument(
        "--dedup-horizon",
        type=float,
        default=_DEFAULTS.dedup_horizon_s,
        help=f"the streaming job's de-dup horizon in seconds (default {_DEFAULTS.dedup_horizon_s:g})",
    )
    p.add_argument(
        "--grace-minutes",
        type=float,
        default=DEFAULT_GRACE_MINUTES,
        help="S3 lake: minutes superseded files stay readable after a swap, for queries that listed them"
        f" (default {DEFAULT_GRACE_MINUTES})",
    )
    p.set_defaults(handler=run)


def _local_dir(uri: str, what: str) -> Path:
    if not uri.startswith("file://"):
        raise UsageError(f"{what} {uri} is not a local directory while the lake is: both must be local")
    return Path(uri.removeprefix("file://"))


def _on_s3(settings: Settings) -> bool:
    schemes = {urlparse(u).scheme for u in (settings.lake_uri, settings.checkpoint_uri)}
    if schemes <= {"s3", "s3a"}:
        return True
    if urlparse(settings.lake_uri).scheme in ("s3", "s3a"):
        raise UsageError(
            f"checkpoint {settings.checkpoint_uri} must be on S3 with the lake {settings.lake_uri}"
        )
    return False


def run(args: argparse.Namespace) -> int:
    from smartcity.compaction.run import compact_lake
    from smartcity.compaction.s3_run import compact_catalog_lake, open_compactor

    settings = settings_from(args)
    target = int(args.target_mb * 1024 * 1024)
    if args.target_mb <= 0 or args.grace_minutes < 0:
        raise UsageError("--target-mb must be positive and --grace-minutes not negative")
    if _on_s3(settings):
        compactor = open_compactor(settings, grace=timedelta(minutes=args.grace_minutes))
        outcomes, collected = compact_catalog_lake(
            compactor,
            watermark_delay_s=args.watermark_delay,
            dedup_horizon_s=args.dedup_horizon,
            target_file_bytes=target,
        )
    else:
        outcomes = compact_lake(
            _local_dir(settings.lake_uri, "lake"),
            _local_dir(settings.checkpoint_uri, "checkpoint"),
            watermark_delay_s=args.watermark_delay,
            dedup_horizon_s=args.dedup_horizon,
            target_file_bytes=target,
        )
        collected = []
    for o in outcomes:
        print(json.dumps({"event": "compacted", **o.__dict__}))
    for c in collected:
        print(json.dumps({"event": "superseded_deleted", **c.__dict__}))
    print(json.dumps({"event": "compaction_done", "partitions": len(outcomes)}))
    return 0
