"""Shared fixtures: a real local stack on free ports in a temporary directory, and a SparkSession.

Each test session gets its own stack (own ports, own state dir), so test runs never collide with a
developer's running stack or with each other; teardown stops every process and checks none is left.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from smartcity.config import Settings
from smartcity.local.process import free_port
from smartcity.local.stack import LocalStack


def make_local_settings(home: Path, **overrides: object) -> Settings:
    """Settings for a private local stack under ``home`` with ports the OS says are free."""
    local = {
        "home": home,
        "kafka_port": free_port(),
        "kafka_controller_port": free_port(),
        "postgres_port": free_port(),
        "moto_port": free_port(),
    }
    return Settings(profile="local", local=local, **overrides)  # type: ignore[arg-type]


class RunningStack:
    """What integration tests get: the stack object and its settings."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.settings = stack.settings


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    # Not under pytest's basetemp: that tree is private (0700) and rotated by other pytest runs, while
    # PostgreSQL runs as another user (when tests run as root) and must reach its data directory.
    home = Path(tempfile.mkdtemp(prefix="smartcity-stack-"))
    home.chmod(0o755)
    settings = make_local_settings(home)
    local_stack = LocalStack(settings)
    local_stack.up()
    pids = local_stack.pids()
    try:
        yield RunningStack(local_stack)
    finally:
        local_stack.down()
        leftovers = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        shutil.rmtree(home, ignore_errors=True)
        assert not leftovers, f"local stack left processes behind: {leftovers}"


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole test session (starting one costs seconds)."""
    from smartcity.spark import local_session

    os.environ.setdefault("SMARTCITY_SPARK_MASTER", "local[2]")
    session = local_session("smartcity-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def warehouse_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL alone (the local stack's component, no Kafka or moto); yields its DSN."""
    from smartcity.local.postgres import PostgresServer

    home = tmp_path_factory.mktemp("warehouse-pg")
    settings = Settings(profile="local", local={"home": Path(home), "postgres_port": free_port()})  # type: ignore[arg-type]
    server = PostgresServer(settings)
    server.start()
    try:
        yield settings.warehouse_dsn
    finally:
        server.stop()


@pytest.fixture
def warehouse_session(warehouse_pg: str) -> Iterator[object]:
    """A ``PostgresSession`` on an empty ``public`` schema (each test migrates from nothing)."""
    import psycopg

    from smartcity.warehouse.postgres import PostgresSession

    with psycopg.connect(warehouse_pg, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    with PostgresSession.open(warehouse_pg) as s:
        yield s
