"""``smartcity warehouse migrate|status|sql``: bring the warehouse schema to the current version, or show it.

``--dialect postgres`` (default) is the local warehouse over psycopg; ``--dialect redshift`` is the
deployed Redshift Serverless workgroup through the Redshift Data API (``smartcity.warehouse.data_api``),
configured by ``SMARTCITY_REDSHIFT__WORKGROUP`` / ``__SECRET_ARN`` / ``__DATABASE`` (stack outputs).
"""

from __future__ import annotations

import argparse

from smartcity.commands._common import add_stack_options, non_negative_int, positive, settings_from
from smartcity.errors import UsageError
from smartcity.warehouse.migrate import DIALECTS, Migration, MigrationState, discover, migrate, status


def _check_target(args: argparse.Namespace) -> None:
    """``--target`` must name a migration of the dialect: checked before connecting to anything."""
    if args.target is None:
        return
    versions = sorted(m.version for m in discover(args.dialect))
    if args.target not in versions:
        raise UsageError(
            f"argument --target: no {args.dialect} migration {args.target} "
            f"(versions {versions[0]}..{versions[-1]})"
        )


def _apply(args: argparse.Namespace) -> tuple[list[Migration], list[MigrationState]]:
    settings = settings_from(args)
    _check_target(args)
    if args.dialect == "redshift":
        from smartcity.warehouse.data_api import RedshiftDataSession, migrate_batched, status_batched

        session = RedshiftDataSession.from_settings(settings)
        applied = migrate_batched(session, "redshift", target=args.target)
        return applied, status_batched(session, "redshift")
    from smartcity.warehouse.postgres import PostgresSession

    with PostgresSession.open(settings.warehouse_dsn) as pg:
        applied = migrate(pg, "postgres", target=args.target)
        return applied, status(pg, "postgres")


def _migrate(args: argparse.Namespace) -> int:
    applied, states = _apply(args)
    current = max((s.version for s in states if s.state == "applied"), default=0)
    for mig in applied:
        print(f"applied {mig.label}")
    where = " (redshift, Data API)" if args.dialect == "redshift" else ""
    print(f"warehouse{where} at version {current} ({len(applied)} migration(s) applied now)")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.dialect == "redshift":
        from smartcity.warehouse.data_api import RedshiftDataSession, status_batched

        states = status_batched(RedshiftDataSession.from_settings(settings), "redshift")
    else:
        from smartcity.warehouse.postgres import PostgresSession

        with PostgresSession.open(settings.warehouse_dsn) as session:
            states = status(session, "postgres")
    for s in states:
        at = s.applied_at.strftime("%Y-%m-%d %H:%M:%S") if s.applied_at else "-"
        print(f"V{s.version:03d}  {s.name:<28} {s.folder:<9} {s.state:<8} {at}")
    return 0 if all(s.state == "applied" for s in states) else 3


def _sql(args: argparse.Namespace) -> int:
    """Print the migrations of a dialect, e.g. to read what ``migrate --dialect redshift`` will run."""
    for mig in discover(args.dialect):
        if args.since is None or mig.version > args.since:
            print(f"-- {mig.label}\n{mig.sql.rstrip()}\n")
    return 0


def _dialect_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dialect",
        choices=DIALECTS,
        default="postgres",
        help="postgres: the local warehouse (default); redshift: the deployed workgroup via the Data API",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("warehouse", help="warehouse schema: apply versioned migrations, show their state")
    wsub = p.add_subparsers(dest="warehouse_command", metavar="ACTION")
    wsub.required = True
    m = wsub.add_parser("migrate", help="apply pending migrations (idempotent)")
    add_stack_options(m)
    _dialect_option(m)
    m.add_argument("--target", type=positive(int), help="stop after this version (default: latest)")
    m.set_defaults(handler=_migrate)
    s = wsub.add_parser(
        "status", help="list migrations: applied, pending or changed (exit 3 unless all applied)"
    )
    add_stack_options(s)
    _dialect_option(s)
    s.set_defaults(handler=_status)
    q = wsub.add_parser("sql", help="print the migration SQL of a dialect (postgres or redshift)")
    q.add_argument("--dialect", choices=DIALECTS, default="redshift")
    q.add_argument("--since", type=non_negative_int, help="only versions after this one")
    q.set_defaults(handler=_sql)
