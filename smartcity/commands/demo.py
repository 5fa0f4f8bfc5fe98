"""``smartcity demo``: the whole pipeline on the local stack, ending with a reconciliation report."""

from __future__ import annotations

import argparse

from smartcity.commands._common import add_stack_options, settings_from
from smartcity.commands.stack import _print_status
from smartcity.local.stack import LocalStack


def _demo(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    stack = LocalStack(settings)
    was_up = stack.is_up()
    report = stack.up()
    print(f"local stack ready in {report.seconds:.1f} s")
    _print_status(stack)
    if not was_up:
        seconds = stack.down()
        print(f"local stack stopped in {seconds:.1f} s (it was down before the demo)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline locally end to end",
        description="Bring the local stack up (or reuse it), run the pipeline, report, and "
        "leave the stack as it was found.",
    )
    add_stack_options(p)
    p.set_defaults(handler=_demo)
