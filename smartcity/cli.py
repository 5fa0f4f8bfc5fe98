"""``smartcity``: the command line. Thin by design: it parses arguments and calls the package.

Each sub-command lives in ``smartcity/commands/<name>.py`` and exposes ``register(subparsers)``; the
modules are discovered, so adding a command never edits this file. Expected failures (wrong flag, taken
port, missing binary) print one line and exit 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn

from smartcity import __version__, commands
from smartcity.errors import SmartCityError


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; the contract here is a single line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"smartcity: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="smartcity",
        description="Smart City streaming pipeline: run every part locally, or the same code on AWS.",
    )
    parser.add_argument("--version", action="version", version=f"smartcity {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except SmartCityError as exc:
        print(f"smartcity: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("smartcity: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
