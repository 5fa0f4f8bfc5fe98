"""The PostgreSQL adapter of the warehouse port: psycopg 3 against the local stand-in for Redshift.

``redshift_connector`` cannot talk to plain PostgreSQL (it expects Redshift's server), so locally everything
goes through psycopg; in AWS the Glue job talks to Redshift through Glue's own connection instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import psycopg

from smartcity.errors import SmartCityError


class WarehouseError(SmartCityError):
    """The warehouse could not be reached or refused a statement."""


def _where(dsn: str) -> str:
    parsed = urlparse(dsn)
    return f"{parsed.hostname or 'localhost'}:{parsed.port or 5432}{parsed.path or ''}"


def connect(dsn: str, *, autocommit: bool = True) -> psycopg.Connection:
    """Open a connection, turning 'connection refused' into one line that says what to start."""
    if not dsn:
        raise WarehouseError("no warehouse DSN configured (set SMARTCITY_WAREHOUSE_DSN)")
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise WarehouseError(
            f"cannot reach the warehouse at {_where(dsn)} ({first}); is the local stack up? (smartcity up)"
        ) from None


class PostgresSession:
    """``smartcity.warehouse.migrate.SqlSession`` over one autocommit psycopg connection."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, dsn: str) -> PostgresSession:
        return cls(connect(dsn))

    def run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        cur = self.conn.execute(sql, params or None)  # type: ignore[arg-type]
        return list(cur.fetchall()) if cur.description else []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PostgresSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
