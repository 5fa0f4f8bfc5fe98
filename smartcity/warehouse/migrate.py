"""Versioned warehouse migrations: discover the SQL files, apply what is pending, report status.

Layout (``smartcity/warehouse/sql/``): ``common/`` holds the portable DDL that both PostgreSQL (the local
warehouse) and Redshift accept; ``postgres/`` and ``redshift/`` hold what only one dialect accepts (Redshift's
DISTKEY/SORTKEY/ENCODE physical design, PostgreSQL's indexes and UNLOGGED staging). File names are
``V<version>__<name>.sql``; versions are one sequence across the three folders, so a version number means
the same migration everywhere. Applied versions are recorded in ``schema_migrations`` with the file's SHA-256:
an applied file that was edited afterwards is an error (add a new version instead), which is what keeps
"the warehouse at version N" a meaningful statement on every machine.

Each migration runs in its own transaction together with its ``schema_migrations`` row, under a lock on
that table, so two concurrent ``migrate`` runs cannot apply a version twice and a failing one leaves nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Literal, Protocol

from smartcity.errors import SmartCityError

Dialect = Literal["postgres", "redshift"]
DIALECTS: tuple[Dialect, ...] = ("postgres", "redshift")
_FILE_RE = re.compile(r"^V(?P<version>\d+)__(?P<name>[a-z0-9_]+)\.sql$")

BOOTSTRAP_SQL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER NOT NULL PRIMARY KEY,"
    " name VARCHAR(200) NOT NULL,"
    " folder VARCHAR(16) NOT NULL,"
    " checksum CHAR(64) NOT NULL,"
    " applied_at TIMESTAMP NOT NULL)"
)


class MigrationError(SmartCityError):
    """A migration file is malformed, was changed after being applied, or failed to apply."""


@dataclass(frozen=True)
class Migration:
    """One versioned SQL file for one dialect."""

    version: int
    name: str
    folder: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"V{self.version:03d}__{self.name} ({self.folder})"


@dataclass(frozen=True)
class MigrationState:
    """A migration as ``status`` reports it: ``applied``, ``pending`` or ``changed`` (edited after apply)."""

    version: int
    name: str
    folder: str
    state: str
    applied_at: datetime | None


class SqlSession(Protocol):
    """The little a migration needs from a connection; psycopg's and the Redshift adapter satisfy it."""

    def run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]: ...

    def transaction(self) -> object: ...  # a context manager: commit on success, roll back on error


def discover(dialect: Dialect) -> list[Migration]:
    """The migrations for ``dialect`` in version order; a duplicate version or bad name is an error."""
    if dialect not in DIALECTS:
        raise MigrationError(f"unknown warehouse dialect {dialect!r} (known: {', '.join(DIALECTS)})")
    root = resources.files("smartcity.warehouse").joinpath("sql")
    found: dict[int, Migration] = {}
    for folder in ("common", dialect):
        for entry in sorted(root.joinpath(folder).iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".sql"):
                continue
            match = _FILE_RE.match(entry.name)
            if match is None:
                raise MigrationError(f"migration file {folder}/{entry.name} is not named V<n>__<name>.sql")
            mig = Migration(int(match["version"]), match["name"], folder, entry.read_text(encoding="utf-8"))
            if mig.version in found:
                raise MigrationError(
                    f"version {mig.version} defined twice: {found[mig.version].label}, {mig.label}"
                )
            found[mig.version] = mig
    return [found[v] for v in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """Split a script on top-level ``;`` (outside quotes and comments).

    Needed because Redshift's Data API and Glue's pre/post actions take one statement at a time, and one
    code path for both dialects is easier to trust than two.
    """
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            buf.append("\n")
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise MigrationError("unterminated /* comment in migration")
            i = end + 2
            buf.append(" ")
            continue
        if ch in ("'", '"'):
            j = i + 1
            while True:
                j = sql.find(ch, j)
                if j < 0:
                    raise MigrationError(f"unterminated {ch} quote in migration")
                if sql.startswith(ch * 2, j):  # doubled quote is an escaped quote
                    j += 2
                    continue
                break
            buf.append(sql[i : j + 1])
            i = j + 1
            continue
        if ch == ";":
            stmt = "".join(buf).strip()
            if stmt:
                statements.append(stmt)
            buf = []
        else:
            buf.append(ch)
        i += 1
    tail = "".join(buf).strip()
    if tail:
        statements.append(tail)
    return statements


def _applied(session: SqlSession) -> dict[int, tuple[str, str, datetime]]:
    rows = session.run("SELECT version, name, checksum, applied_at FROM schema_migrations")
    return {int(r[0]): (str(r[1]), str(r[2]).strip(), r[3]) for r in rows}  # type: ignore[misc]


def status(session: SqlSession, dialect: Dialect) -> list[MigrationState]:
    """Every known migration with its state; versions applied but missing from the files are listed too."""
    session.run(BOOTSTRAP_SQL)
    applied = _applied(session)
    out: list[MigrationState] = []
    known = set()
    for mig in discover(dialect):
        known.add(mig.version)
        row = applied.get(mig.version)
        if row is None:
            out.append(MigrationState(mig.version, mig.name, mig.folder, "pending", None))
        else:
            state = "applied" if row[1] == mig.checksum else "changed"
            out.append(MigrationState(mig.version, mig.name, mig.folder, state, row[2]))
    for version, (name, _sum, at) in sorted(applied.items()):
        if version not in known:
            out.append(MigrationState(version, name, "?", "unknown", at))
    return sorted(out, key=lambda s: s.version)


def migrate(session: SqlSession, dialect: Dialect, *, target: int | None = None) -> list[Migration]:
    """Apply every pending migration up to ``target`` (all by default); return the ones applied now.

    Idempotent: a second run applies nothing. Refuses to run when an applied file has changed, because
    the database would then not be what the files say it is.
    """
    session.run(BOOTSTRAP_SQL)
    migrations = discover(dialect)
    changed = [
        m.label
        for m in migrations
        if (row := _applied(session).get(m.version)) is not None and row[1] != m.checksum
    ]
    if changed:
        raise MigrationError(
            f"applied migration changed since it was applied: {', '.join(changed)} "
            "(add a new version instead of editing an applied one)"
        )
    done: list[Migration] = []
    for mig in migrations:
        if target is not None and mig.version > target:
            break
        with session.transaction():
            session.run("LOCK TABLE schema_migrations")
            if session.run("SELECT 1 FROM schema_migrations WHERE version = %s", (mig.version,)):
                continue  # a concurrent run applied it while we waited for the lock
            for stmt in split_statements(mig.sql):
                try:
                    session.run(stmt)
                except SmartCityError:
                    raise
                except Exception as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise MigrationError(f"{mig.label} failed: {first}") from exc
            session.run(
                "INSERT INTO schema_migrations (version, name, folder, checksum, applied_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (mig.version, mig.name, mig.folder, mig.checksum, datetime.now(UTC).replace(tzinfo=None)),
            )
        done.append(mig)
    return done
