"""Apply and inspect the warehouse migrations on Redshift Serverless through the Redshift Data API.

Why the Data API: the workgroup is private (no public endpoint) and the deployer's machine is outside its
VPC, so a JDBC/psycopg connection cannot reach it; the Data API is a regional HTTPS API that runs SQL on
the workgroup with the admin secret (or IAM temporary credentials) and needs no network path to it.

Why migrations here are applied differently from ``smartcity.warehouse.migrate.migrate``: that function
holds an interactive transaction (lock, re-check, apply, record) on one connection. Every Data API call is
its own statement; the documented way to run several statements atomically is ``BatchExecuteStatement``
("run as a single transaction ... if any SQL statement fails, all work is rolled back"). So each
migration becomes one batch::

    LOCK TABLE schema_migrations;                         -- serialise concurrent runs
    SELECT 1 / (1 - count(*)) FROM schema_migrations      -- division by zero (so: roll back) when
        WHERE version = N;                                -- another run applied N while we waited
    <the migration's statements>;
    INSERT INTO schema_migrations VALUES (N, ...);        -- recorded in the same transaction

The ledger, file discovery, checksums, statement splitting and "edited after apply" refusal are the ones
``migrate.py`` defines, so "the warehouse at version N" means the same on PostgreSQL and Redshift.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from smartcity.config import RedshiftSettings
from smartcity.errors import SmartCityError, UsageError
from smartcity.warehouse.migrate import (
    Dialect,
    Migration,
    MigrationError,
    MigrationState,
    discover,
    split_statements,
    status,
)

_RUNNING = frozenset({"SUBMITTED", "PICKED", "STARTED"})
_TIMESTAMP_TYPES = frozenset({"timestamp", "timestamptz"})


class DataApiError(SmartCityError):
    """A Data API statement failed, was aborted, or did not finish in time."""


class BatchSession(Protocol):
    """What batched migrations need: single statements with results, and atomic batches."""

    def run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]: ...

    def run_batch(self, sqls: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class DataApiTarget:
    """The workgroup, database and (optional) secret every Data API call names."""

    workgroup: str
    database: str
    secret_arn: str = ""

    @classmethod
    def from_settings(cls, rs: RedshiftSettings) -> DataApiTarget:
        if not rs.workgroup:
            raise UsageError(
                "no Redshift workgroup configured: set SMARTCITY_REDSHIFT__WORKGROUP "
                "(the stack output RedshiftWorkgroupName)"
            )
        return cls(rs.workgroup, rs.database, rs.secret_arn)

    def kwargs(self) -> dict[str, str]:
        out = {"WorkgroupName": self.workgroup, "Database": self.database}
        if self.secret_arn:
            out["SecretArn"] = self.secret_arn
        return out


def to_named(sql: str, params: tuple[object, ...]) -> tuple[str, list[dict[str, str]]]:
    """``%s`` placeholders (psycopg style, as migrate.py writes them) → the Data API's ``:p1``, ``:p2``.

    The Data API takes parameter values as strings and lets Redshift convert them; ``None`` has no string
    form there, so it is refused instead of silently becoming the text 'None'.
    """
    parts = sql.split("%s")
    if len(parts) - 1 != len(params):
        raise DataApiError(f"{len(parts) - 1} placeholder(s) but {len(params)} parameter(s)")
    named: list[dict[str, str]] = []
    out = [parts[0]]
    for i, (value, rest) in enumerate(zip(params, parts[1:], strict=True), start=1):
        if value is None:
            raise DataApiError(f"parameter {i} is NULL: the Data API cannot bind NULL; inline it")
        text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
        named.append({"name": f"p{i}", "value": text})
        out.append(f":p{i}{rest}")
    return "".join(out), named


def _field(value: dict[str, Any], type_name: str) -> object:
    if value.get("isNull"):
        return None
    for key in ("longValue", "doubleValue", "booleanValue", "blobValue"):
        if key in value:
            return value[key]
    text = value.get("stringValue")
    if text is not None and type_name in _TIMESTAMP_TYPES:
        return datetime.fromisoformat(text)
    if text is not None and type_name == "date":
        return date.fromisoformat(text)
    return text


def rows_of(pages: Sequence[dict[str, Any]]) -> list[tuple[object, ...]]:
    """``GetStatementResult`` pages → rows of Python values (timestamps and dates parsed by column type)."""
    rows: list[tuple[object, ...]] = []
    for page in pages:
        types = [str(c.get("typeName", "")).lower() for c in page.get("ColumnMetadata", [])]
        for record in page.get("Records", []):
            rows.append(tuple(_field(v, types[i] if i < len(types) else "") for i, v in enumerate(record)))
    return rows


class RedshiftDataSession:
    """Runs SQL on a Redshift Serverless workgroup through the Data API (``redshift-data`` client).

    ``run`` submits one statement, polls ``DescribeStatement`` until it finishes and reads every page of
    ``GetStatementResult``; ``run_batch`` submits ``BatchExecuteStatement`` (one transaction). A statement
    still running after ``timeout_s`` is cancelled, so a timed-out migration does not commit later.
    """

    def __init__(
        self,
        client: Any,
        target: DataApiTarget,
        *,
        poll_interval_s: float = 1.0,
        timeout_s: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.target = target
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Any) -> RedshiftDataSession:
        """A session for ``settings.redshift`` with a client built from ``settings.boto3_kwargs()``."""
        import boto3

        rs: RedshiftSettings = settings.redshift
        return cls(
            boto3.client("redshift-data", **settings.boto3_kwargs()),
            DataApiTarget.from_settings(rs),
            poll_interval_s=rs.poll_interval_s,
            timeout_s=rs.statement_timeout_s,
        )

    def run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        text, named = to_named(sql, params)
        request: dict[str, Any] = {**self.target.kwargs(), "Sql": text}
        if named:
            request["Parameters"] = named
        statement_id = self.client.execute_statement(**request)["Id"]
        desc = self._wait(statement_id, text)
        if not desc.get("HasResultSet"):
            return []
        pages = [self.client.get_statement_result(Id=statement_id)]
        while pages[-1].get("NextToken"):
            pages.append(self.client.get_statement_result(Id=statement_id, NextToken=pages[-1]["NextToken"]))
        return rows_of(pages)

    def run_batch(self, sqls: Sequence[str]) -> None:
        if not sqls:
            return
        statement_id = self.client.batch_execute_statement(**self.target.kwargs(), Sqls=list(sqls))["Id"]
        self._wait(statement_id, f"batch of {len(sqls)} statements")

    def _wait(self, statement_id: str, what: str) -> dict[str, Any]:
        deadline = self._clock() + self.timeout_s
        while True:
            desc: dict[str, Any] = self.client.describe_statement(Id=statement_id)
            state = desc.get("Status", "")
            if state == "FINISHED":
                return desc
            if state not in _RUNNING:
                raise DataApiError(f"{state.lower() or 'unknown state'}: {_error_of(desc)} ({_short(what)})")
            if self._clock() >= deadline:
                self.client.cancel_statement(Id=statement_id)
                raise DataApiError(
                    f"not finished after {self.timeout_s:g} s, cancelled ({_short(what)}); "
                    "raise SMARTCITY_REDSHIFT__STATEMENT_TIMEOUT_S if the workgroup was resuming"
                )
            self._sleep(self.poll_interval_s)


def _error_of(desc: dict[str, Any]) -> str:
    """The failing statement's message: a batch reports it on the sub-statement that failed."""
    for sub in desc.get("SubStatements", []) or []:
        if isinstance(sub, dict) and sub.get("Error"):
            return str(sub["Error"]).strip().splitlines()[0]
    error = str(desc.get("Error") or "").strip()
    return error.splitlines()[0] if error else "no error message returned"


def _short(sql: str, limit: int = 80) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _literal(value: object) -> str:
    """A SQL literal for the ledger row (BatchExecuteStatement takes no parameters)."""
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def migration_batch(mig: Migration, applied_at: datetime) -> list[str]:
    """The statements of one migration as one atomic batch (see the module docstring)."""
    ledger = ", ".join(
        _literal(v)
        for v in (mig.version, mig.name, mig.folder, mig.checksum, applied_at.strftime("%Y-%m-%d %H:%M:%S"))
    )
    return [
        "LOCK TABLE schema_migrations",
        f"SELECT 1 / (1 - count(*)) FROM schema_migrations WHERE version = {mig.version:d}",
        *split_statements(mig.sql),
        f"INSERT INTO schema_migrations (version, name, folder, checksum, applied_at) VALUES ({ledger})",
    ]


def migrate_batched(
    session: BatchSession, dialect: Dialect = "redshift", *, target: int | None = None
) -> list[Migration]:
    """Apply every pending migration up to ``target``, one atomic batch each; return those applied now.

    Idempotent like ``migrate.migrate``: a second run applies nothing, an applied file that was edited is
    refused, and a version applied by a concurrent run while this one waited is skipped, not repeated.
    """
    states = status_batched(session, dialect)
    changed = [f"V{s.version:03d}__{s.name} ({s.folder})" for s in states if s.state == "changed"]
    if changed:
        raise MigrationError(
            f"applied migration changed since it was applied: {', '.join(changed)} "
            "(add a new version instead of editing an applied one)"
        )
    applied = {s.version for s in states if s.state == "applied"}
    done: list[Migration] = []
    for mig in discover(dialect):
        if target is not None and mig.version > target:
            break
        if mig.version in applied:
            continue
        try:
            session.run_batch(migration_batch(mig, datetime.now(UTC).replace(tzinfo=None)))
        except Exception as exc:
            if session.run("SELECT 1 FROM schema_migrations WHERE version = %s", (mig.version,)):
                continue  # a concurrent run applied it while this batch waited for the lock
            if isinstance(exc, MigrationError):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MigrationError(f"{mig.label} failed: {first}") from exc
        done.append(mig)
    return done


def status_batched(session: BatchSession, dialect: Dialect = "redshift") -> list[MigrationState]:
    """``migrate.status`` over the Data API (it only needs single statements, which ``run`` provides)."""
    return status(session, dialect)  # type: ignore[arg-type]  # status() calls run() only
