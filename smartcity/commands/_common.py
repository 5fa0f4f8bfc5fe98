"""Helpers shared by the sub-commands: settings from the CLI's global options, argument types that
validate while parsing (so a bad flag fails before anything is changed), and commands shown to the user
spelled so that they run as printed."""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError

from smartcity.config import Settings
from smartcity.errors import UsageError
from smartcity.local import runlog, scratch


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


def positive(kind: Callable[[str], float | int]) -> Callable[[str], float | int]:
    """An argparse type: a number > 0 (argparse prefixes the flag the user typed)."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*")


def duration_s(text: str) -> float:
    """``10s``, ``2m``, ``500ms`` or a plain number of seconds, as seconds (>= 0)."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10s, 2m, 500ms)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def positive_duration_s(text: str) -> float:
    value = duration_s(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0, got {text!r}")
    return value


def program() -> list[str]:
    """How this very CLI was started, as a command that works in any shell (absolute paths).

    A fresh shell has no ``smartcity`` on PATH (it lives in ``.venv/bin``), so printed follow-up
    commands name the executable that is running now.
    """
    launcher = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if launcher is not None and launcher.name == "smartcity" and launcher.exists():
        return [str(launcher.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "smartcity.cli"]


def command_line(*args: str) -> str:
    """A ``smartcity`` command to show the user, runnable as printed."""
    return shlex.join([*program(), *args])


@contextlib.contextmanager
def quiet_libraries(settings: Settings, command: str) -> Iterator[runlog.RunLog]:
    """Libraries' output to this run's log files, Spark's and temporary files under the home.

    Call it once every argument has been validated: it is the first thing that writes to the home.
    """
    home = settings.local.state_dir
    run = runlog.current(home, command)
    with (
        runlog.python_logging_to(run, command),
        scratch.run_scratch(home),
        runlog.native_output_to(run, command),
    ):
        yield run
