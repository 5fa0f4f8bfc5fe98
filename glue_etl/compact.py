"""AWS Glue (glueetl) entry: compaction of the lake's closed hourly partitions, swapped in the Data Catalog.

Thin by design: arguments here, everything else in ``smartcity.compaction`` (the code ``smartcity compact``
runs locally against moto's S3 and Glue). No Spark is used: the job reads and writes Parquet with pyarrow on
the driver, one partition at a time. Scheduled hourly by the template's trigger; one run at a time.
See glue_etl/ARGS.md ("compact.py") for the exact arguments.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Any

from smartcity.compaction.plan import DEFAULT_GRACE_MINUTES, DEFAULT_TARGET_MB
from smartcity.compaction.s3_run import compact_catalog_lake, open_compactor
from smartcity.config import Settings, StreamSettings

_DEFAULTS = StreamSettings()
REQUIRED = ["JOB_NAME", "lake_uri", "checkpoint_uri", "catalog_database", "aws_region"]
# The optional arguments default to the streaming job's own settings, so the closing rule cannot drift.
OPTIONAL = {
    "watermark_delay_s": f"{_DEFAULTS.watermark_delay_s:g}",
    "dedup_horizon_s": f"{_DEFAULTS.dedup_horizon_s:g}",
    "target_mb": f"{DEFAULT_TARGET_MB:g}",
    "grace_minutes": f"{DEFAULT_GRACE_MINUTES:g}",
}


def parse_args(argv: list[str]) -> dict[str, str]:
    """Required and optional job arguments (Glue passes ``--name value``; optional ones may be absent)."""
    from awsglue.utils import getResolvedOptions

    present = [name for name in OPTIONAL if f"--{name}" in argv]
    args = dict(OPTIONAL)
    args.update(getResolvedOptions(argv, REQUIRED + present))
    return args


def build(args: dict[str, str]) -> tuple[Settings, dict[str, Any]]:
    """Settings and the compaction's parameters from the arguments (testable anywhere)."""
    settings = Settings(
        profile="aws",
        aws_region=args["aws_region"],
        lake_uri=args["lake_uri"],
        checkpoint_uri=args["checkpoint_uri"],
        catalog_database=args["catalog_database"],
    )
    params = {
        "watermark_delay_s": float(args["watermark_delay_s"]),
        "dedup_horizon_s": float(args["dedup_horizon_s"]),
        "target_file_bytes": int(float(args["target_mb"]) * 1024 * 1024),
        "grace": timedelta(minutes=float(args["grace_minutes"])),
    }
    return settings, params


def main(argv: list[str]) -> None:  # pragma: no cover - runs only inside AWS Glue
    settings, params = build(parse_args(argv))
    compactor = open_compactor(settings, grace=params.pop("grace"))
    outcomes, collected = compact_catalog_lake(compactor, **params)
    for o in outcomes:
        print(json.dumps({"event": "compacted", **o.__dict__}))
    for c in collected:
        print(json.dumps({"event": "superseded_deleted", **c.__dict__}))
    print(json.dumps({"event": "compaction_done", "partitions": len(outcomes)}))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv)
