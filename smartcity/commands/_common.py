"""Helpers shared by the sub-commands: settings from the CLI's global options."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from smartcity.config import Settings
from smartcity.errors import UsageError


def add_stack_options(parser: argparse.ArgumentParser) -> None:
    """Options every command that touches the local stack accepts."""
    parser.add_argument("--home", type=Path, help="state directory of the local stack (default .smartcity)")
    parser.add_argument(
        "--lake",
        choices=("file", "s3"),
        help="where the local lake and checkpoints live: a folder under the home (file, the default) or "
        "moto's S3 API through S3A (s3)",
    )


def settings_from(args: argparse.Namespace, **overrides: object) -> Settings:
    """Settings from env/file, with the command-line options that were given winning."""
    local: dict[str, object] = {}
    if getattr(args, "home", None):
        local["home"] = args.home
    lake = getattr(args, "lake", None)
    try:
        base = Settings()
        if local or lake:
            if local:
                overrides["local"] = base.local.model_copy(update=local)
            if lake:
                overrides["lake"] = lake
            # Paths derived from the home and the lake mode must follow them.
            data = base.model_dump(
                exclude={"lake_uri", "checkpoint_uri", "warehouse_dsn", "aws_endpoint_url"}
            )
            data.update(overrides)
            return Settings(**data)
        if overrides:
            data = base.model_dump()
            data.update(overrides)
            return Settings(**data)
        return base
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"invalid configuration {loc}: {first['msg']}") from None
