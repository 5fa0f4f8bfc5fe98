"""``smartcity compact``: rewrite the lake's closed hourly partitions into a few large files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from smartcity.commands._common import add_stack_options, settings_from
from smartcity.compaction.run import compact_lake
from smartcity.errors import UsageError
from smartcity.stream.settings import StreamSettings

_DEFAULTS = StreamSettings()
DEFAULT_TARGET_MB = 128


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
    p.set_defaults(handler=run)


def _local_dir(uri: str, what: str) -> Path:
    if not uri.startswith("file://"):
        raise UsageError(
            f"{what} {uri} is not a local directory: compaction swaps directories atomically only there"
        )
    return Path(uri.removeprefix("file://"))


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    outcomes = compact_lake(
        _local_dir(settings.lake_uri, "lake"),
        _local_dir(settings.checkpoint_uri, "checkpoint"),
        watermark_delay_s=args.watermark_delay,
        dedup_horizon_s=args.dedup_horizon,
        target_file_bytes=int(args.target_mb * 1024 * 1024),
    )
    for o in outcomes:
        print(json.dumps({"event": "compacted", **o.__dict__}))
    print(json.dumps({"event": "compaction_done", "partitions": len(outcomes)}))
    return 0
