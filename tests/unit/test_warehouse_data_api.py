"""Redshift migrations through the Data API: the API calls against moto, the ledger logic on PostgreSQL.

What moto 5.2.5's ``redshift-data`` can and cannot do (measured): it records ``ExecuteStatement`` (SQL,
parameters, database, secret), answers ``DescribeStatement`` with ``STARTED`` until something changes the
statement, and ``GetStatementResult`` returns one canned 3-row table whatever the SQL; it does not
implement ``BatchExecuteStatement`` and runs no SQL. So:

- the request shapes, the polling loop (the test plays the warehouse by moving moto's statement to
  FINISHED/FAILED between polls), timeout → ``CancelStatement``, and result decoding are tested on moto;
- the migration logic that needs real SQL (one atomic batch per migration, the guard that rolls a batch
  back when a concurrent run applied the version, idempotence, ``--target``, edited-file refusal) runs on a
  real PostgreSQL through the same ``BatchSession`` port, with the postgres migrations (Redshift's
  DISTKEY/SORTKEY files do not parse there). Redshift itself is only reached by the deployed command.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import psycopg
import pytest

from smartcity.config import Settings
from smartcity.errors import UsageError
from smartcity.warehouse import data_api
from smartcity.warehouse.data_api import (
    DataApiError,
    DataApiTarget,
    RedshiftDataSession,
    migrate_batched,
    migration_batch,
    status_batched,
    to_named,
)
from smartcity.warehouse.migrate import MigrationError, discover
from smartcity.warehouse.postgres import PostgresSession

pytestmark = pytest.mark.unit

moto = pytest.importorskip("moto")
from moto import mock_aws  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.redshiftdata.models import redshiftdata_backends  # noqa: E402

REGION = "us-east-1"
SECRET = f"arn:aws:secretsmanager:{REGION}:{DEFAULT_ACCOUNT_ID}:secret:smartcity-admin-AbCdEf"
TARGET = DataApiTarget("smartcity-dev-wg", "smartcity", SECRET)


# -- pure pieces -----------------------------------------------------------------------------------------


def test_placeholders_become_named_string_parameters() -> None:
    sql, params = to_named("INSERT INTO t VALUES (%s, %s, %s)", (7, "it's", datetime(2026, 1, 2, 3, 4, 5)))
    assert sql == "INSERT INTO t VALUES (:p1, :p2, :p3)"
    assert params == [
        {"name": "p1", "value": "7"},
        {"name": "p2", "value": "it's"},
        {"name": "p3", "value": "2026-01-02 03:04:05"},
    ]
    with pytest.raises(DataApiError, match="placeholder"):
        to_named("SELECT %s", ())
    with pytest.raises(DataApiError, match="NULL"):
        to_named("SELECT %s", (None,))


def test_result_pages_decode_by_column_type() -> None:
    page = {
        "ColumnMetadata": [{"typeName": "int4"}, {"typeName": "varchar"}, {"typeName": "timestamp"}],
        "Records": [
            [{"longValue": 1}, {"stringValue": "core_model"}, {"stringValue": "2026-01-02 03:04:05"}],
            [{"longValue": 2}, {"isNull": True}, {"isNull": True}],
        ],
    }
    assert (
        data_api.rows_of([page, page])
        == [
            (1, "core_model", datetime(2026, 1, 2, 3, 4, 5)),
            (2, None, None),
        ]
        * 2
    )


def test_a_migration_batch_locks_guards_applies_and_records_in_one_transaction() -> None:
    mig = discover("redshift")[1]
    batch = migration_batch(mig, datetime(2026, 1, 2, 3, 4, 5))
    assert batch[0] == "LOCK TABLE schema_migrations"
    assert batch[1] == f"SELECT 1 / (1 - count(*)) FROM schema_migrations WHERE version = {mig.version}"
    assert batch[-1].startswith("INSERT INTO schema_migrations") and f"'{mig.checksum}'" in batch[-1]
    assert "'2026-01-02 03:04:05'" in batch[-1]
    assert batch[2:-1] and not any(s.rstrip().endswith(";") for s in batch)  # one statement each


def test_missing_workgroup_is_a_usage_error_naming_the_variable() -> None:
    with pytest.raises(UsageError, match="SMARTCITY_REDSHIFT__WORKGROUP"):
        DataApiTarget.from_settings(Settings(profile="local").redshift)
    s = Settings(profile="local", redshift={"workgroup": "wg-x", "secret_arn": ""})  # type: ignore[arg-type]
    assert DataApiTarget.from_settings(s.redshift).kwargs() == {
        "WorkgroupName": "wg-x",
        "Database": "smartcity",  # no SecretArn: IAM temporary credentials
    }


# -- the API conversation on moto ---------------------------------------------------------------------


@pytest.fixture
def redshift_data() -> Iterator[object]:
    with mock_aws():
        import boto3

        yield boto3.client("redshift-data", region_name=REGION)


def _statements() -> dict[str, object]:
    return redshiftdata_backends[DEFAULT_ACCOUNT_ID][REGION].statements  # type: ignore[no-any-return]


def _finish_all(has_result_set: bool) -> None:
    for st in _statements().values():
        st.status = "FINISHED"  # type: ignore[attr-defined]
        st.has_result_set = has_result_set  # type: ignore[attr-defined]


def test_run_submits_with_target_and_parameters_polls_until_finished_and_reads_rows(
    redshift_data: object,
) -> None:
    polls: list[float] = []

    def warehouse_works(seconds: float) -> None:  # the workgroup finishes after two polls
        polls.append(seconds)
        if len(polls) == 2:
            _finish_all(has_result_set=True)

    session = RedshiftDataSession(redshift_data, TARGET, poll_interval_s=0.25, sleep=warehouse_works)
    rows = session.run("SELECT version FROM schema_migrations WHERE version = %s", (3,))
    assert polls == [0.25, 0.25]
    [st] = _statements().values()
    assert st.query_string == "SELECT version FROM schema_migrations WHERE version = :p1"  # type: ignore[attr-defined]
    assert st.query_parameters == [{"name": "p1", "value": "3"}]  # type: ignore[attr-defined]
    assert (st.database, st.secret_arn) == ("smartcity", SECRET)  # type: ignore[attr-defined]
    # moto's canned result table (it runs no SQL): decoded row by row, types kept.
    assert rows == [(10, "Alpha st", "Vancouver"), (50, "Beta st", "Toronto"), (100, "Gamma av", "Seattle")]


def test_a_statement_without_result_set_returns_no_rows(redshift_data: object) -> None:
    session = RedshiftDataSession(redshift_data, TARGET, sleep=lambda s: _finish_all(False))
    assert session.run("CREATE TABLE IF NOT EXISTS t (a INT)") == []


def test_a_failed_statement_raises_with_its_state(redshift_data: object) -> None:
    def fail(_s: float) -> None:
        for st in _statements().values():
            st.status = "FAILED"  # type: ignore[attr-defined]

    session = RedshiftDataSession(redshift_data, TARGET, sleep=fail)
    with pytest.raises(DataApiError, match=r"^failed: .*\(DROP TABLE nope\)"):
        session.run("DROP TABLE nope")


def test_a_statement_past_the_timeout_is_cancelled(redshift_data: object) -> None:
    now = [0.0]

    def tick(seconds: float) -> None:
        now[0] += seconds

    session = RedshiftDataSession(
        redshift_data, TARGET, poll_interval_s=5, timeout_s=12, sleep=tick, clock=lambda: now[0]
    )
    with pytest.raises(DataApiError, match="not finished after 12 s, cancelled"):
        session.run("SELECT pg_sleep(60)")
    [st] = _statements().values()
    assert st.status == "ABORTED"  # type: ignore[attr-defined]  # CancelStatement reached the service


def test_batch_error_names_the_failing_sub_statement() -> None:
    desc = {
        "Status": "FAILED",
        "SubStatements": [{"Status": "FINISHED"}, {"Status": "FAILED", "Error": "ERROR: division by zero\n"}],
    }
    assert data_api._error_of(desc) == "ERROR: division by zero"


# -- the migration logic on a real PostgreSQL -------------------------------------------------------------


class PostgresBatchSession:
    """The ``BatchSession`` port over psycopg: a batch is one transaction, as BatchExecuteStatement's is."""

    def __init__(self, session: PostgresSession) -> None:
        self.session = session
        self.batches: list[list[str]] = []

    def run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return self.session.run(sql, params)

    def run_batch(self, sqls: Sequence[str]) -> None:
        self.batches.append(list(sqls))
        with self.session.transaction():
            for sql in sqls:
                self.session.run(sql)


@pytest.fixture
def batch_session(warehouse_session: PostgresSession) -> PostgresBatchSession:
    return PostgresBatchSession(warehouse_session)


def test_batched_migrate_applies_each_version_once_in_one_batch(batch_session: PostgresBatchSession) -> None:
    migs = discover("postgres")
    applied = migrate_batched(batch_session, "postgres", target=migs[0].version)
    assert [m.version for m in applied] == [migs[0].version]
    rest = migrate_batched(batch_session, "postgres")
    assert [m.version for m in rest] == [m.version for m in migs[1:]]
    assert len(batch_session.batches) == len(migs)
    assert migrate_batched(batch_session, "postgres") == []  # idempotent
    states = status_batched(batch_session, "postgres")
    assert {s.state for s in states} == {"applied"} and all(s.applied_at for s in states)
    # The schema really is there: the fact table exists and the ledger has one row per version.
    count = batch_session.run("SELECT count(*), count(DISTINCT version) FROM schema_migrations")[0]
    assert count == (len(migs), len(migs))


def test_a_version_applied_concurrently_is_rolled_back_by_the_guard_and_skipped(
    batch_session: PostgresBatchSession,
) -> None:
    first = discover("postgres")[0]
    migrate_batched(batch_session, "postgres", target=first.version)
    # A second runner that read the ledger before the first committed still submits V001's batch:
    # the guard divides by zero, the whole batch (DDL included) rolls back, and the runner moves on.
    with pytest.raises(psycopg.errors.DivisionByZero):
        batch_session.run_batch(migration_batch(first, datetime(2026, 1, 1)))
    assert batch_session.run(
        "SELECT count(*) FROM schema_migrations WHERE version = %s", (first.version,)
    ) == [(1,)]

    class StaleReader(PostgresBatchSession):
        """Sees an empty ledger once (it read before the concurrent commit), then the truth."""

        stale = True

        def run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
            if self.stale and sql.startswith("SELECT version, name, checksum, applied_at"):
                self.stale = False
                return []
            return super().run(sql, params)

    stale = StaleReader(batch_session.session)
    applied = migrate_batched(stale, "postgres", target=first.version)
    assert applied == [] and len(stale.batches) == 1  # tried, rolled back by the guard, skipped


def test_a_failing_migration_leaves_nothing_and_says_which(
    batch_session: PostgresBatchSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    migs = discover("postgres")
    broken = type(migs[0])(migs[0].version, migs[0].name, migs[0].folder, migs[0].sql + "\nSELEC nonsense;")
    monkeypatch.setattr(data_api, "discover", lambda _d: [broken])
    with pytest.raises(
        MigrationError, match=rf"V{broken.version:03d}__{broken.name} .* failed: syntax error"
    ):
        migrate_batched(batch_session, "postgres")
    assert batch_session.run("SELECT count(*) FROM schema_migrations") == [(0,)]
    assert batch_session.run("SELECT to_regclass('fact_vehicle_telemetry')") == [(None,)]


def test_an_edited_applied_migration_is_refused(
    batch_session: PostgresBatchSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    migs = discover("postgres")
    migrate_batched(batch_session, "postgres", target=migs[0].version)
    edited = type(migs[0])(migs[0].version, migs[0].name, migs[0].folder, migs[0].sql + "\n-- edited\n")
    monkeypatch.setattr("smartcity.warehouse.migrate.discover", lambda _d: [edited, *migs[1:]])
    with pytest.raises(MigrationError, match="changed since it was applied"):
        migrate_batched(batch_session, "postgres")
