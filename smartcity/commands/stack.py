"""``smartcity setup|up|down|status``: the local stack's life cycle."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from smartcity.commands._common import add_stack_options, quiet_libraries, settings_from

if TYPE_CHECKING:
    from smartcity.local.stack import LocalStack


def _setup(args: argparse.Namespace) -> int:
    from smartcity.local import jvm

    for name, cp in jvm.resolve_all().items():
        print(f"{name}: {len(cp.jars)} jars verified in {cp.directory}")
    return 0


def _up(args: argparse.Namespace) -> int:
    from smartcity.local.stack import LocalStack

    settings = settings_from(args)
    stack = LocalStack(settings)
    with quiet_libraries(settings, "up"):
        report = stack.up()
    what = ", ".join(report.started) or "nothing (all running)"
    print(f"local stack up in {report.seconds:.1f} s; started: {what}")
    _print_status(stack)
    return 0


def _down(args: argparse.Namespace) -> int:
    from smartcity.local.stack import LocalStack

    stack = LocalStack(settings_from(args))
    seconds = stack.down()
    print(f"local stack down in {seconds:.1f} s (data kept in {stack.settings.local.state_dir})")
    return 0


def _status(args: argparse.Namespace) -> int:
    from smartcity.local.stack import LocalStack

    stack = LocalStack(settings_from(args))
    _print_status(stack)
    return 0 if stack.is_up() else 3


def _print_status(stack: LocalStack) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"smartcity local stack ({stack.settings.local.state_dir})")
    for col in ("component", "port", "pid", "state"):
        table.add_column(col)
    for st in stack.status():
        state = "healthy" if st.healthy else ("running, not healthy" if st.running else "stopped")
        table.add_row(st.name, str(st.port), str(st.pid or "-"), state)
    Console().print(table)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "setup",
        help="fetch and verify the JVM jars (Kafka broker, Spark Kafka connector)",
        description="Resolve the Maven manifests under jvm/ into the jar cache; "
        "a no-op that works offline once cached.",
    )
    p.set_defaults(handler=_setup)

    p = sub.add_parser(
        "up",
        help="start the local stack (Kafka, PostgreSQL, moto); idempotent",
        description="Start Kafka (KRaft), PostgreSQL and moto on 127.0.0.1 and wait until "
        "each is healthy. Components already running are reused.",
    )
    add_stack_options(p)
    p.set_defaults(handler=_up)

    p = sub.add_parser(
        "down",
        help="stop every process the local stack started",
        description="Stop the local stack's processes by PID; data stays in the state dir.",
    )
    add_stack_options(p)
    p.set_defaults(handler=_down)

    p = sub.add_parser(
        "status",
        help="show each component, its port and PID (exit 3 if not all up)",
        description="Show each component of the local stack, its port, PID and health.",
    )
    add_stack_options(p)
    p.set_defaults(handler=_status)
