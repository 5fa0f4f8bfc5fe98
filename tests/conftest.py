"""Shared fixtures: a real local stack on free ports in a temporary directory, and a SparkSession.

Each test session gets its own stack (own ports, own state dir), so test runs never collide with a
developer's running stack or with each other; teardown stops every process and checks none is left.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import botocore.loaders
import botocore.session
import psutil
import pytest

from smartcity.config import Settings
from smartcity.local.process import free_port
from smartcity.local.stack import LocalStack, private_stack_settings

pytest_plugins = ["pytester"]

# moto's `mock_aws` gives every test a fresh boto3 default session, and each new session's loader reads
# and parses every service model it needs again (the Glue and DynamoDB models are megabytes of JSON).
# The tests' sessions share one loader per data path instead: the models are read-only data.
botocore.session.create_loader = cache(botocore.loaders.create_loader)


# What a test needs beyond Python, as markers (registered in pyproject.toml); `--needs-nothing`
# (`make test-fast`) runs the tests that need none of them.
NEEDS_MARKERS = ("spark", "postgres", "stack", "jvm", "moto_server", "iac")
NEEDS_NOTHING_OPTION = "--needs-nothing"
# The shared fixtures that start something, and the marker each one implies.
MARKER_OF_FIXTURE = {"spark": "spark", "stack": "stack", "warehouse_pg": "postgres"}
# The processes a test without any of NEEDS_MARKERS must never start.
HEAVY_PROCESS_NAMES = frozenset({"java", "postgres", "initdb", "pg_ctl"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        NEEDS_NOTHING_OPTION,
        action="store_true",
        help=f"run only the tests that need nothing beyond Python (none of: {', '.join(NEEDS_MARKERS)})",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with what its fixtures start, so `-m` can select by need; with `--needs-nothing`,
    deselect every test that needs something."""
    for item in items:
        for fixture, marker in MARKER_OF_FIXTURE.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)
    if config.getoption(NEEDS_NOTHING_OPTION):
        needing = [item for item in items if _needs_something(item)]
        if needing:
            config.hook.pytest_deselected(items=needing)
            items[:] = [item for item in items if not _needs_something(item)]


def _needs_something(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(m) for m in NEEDS_MARKERS)


class HeavyProcessWatch:
    """Polls this process's descendants and remembers any JVM or PostgreSQL, with the test that ran.

    A poll scans the process table; a JVM or PostgreSQL lives for seconds, so two polls a second do.
    """

    def __init__(self, names: frozenset[str] = HEAVY_PROCESS_NAMES, interval_s: float = 0.5) -> None:
        self.names = names
        self.interval_s = interval_s
        self.current = "(between tests)"
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heavy-process-watch", daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):
                try:
                    name = child.name()
                except psutil.Error:
                    continue
                if name in self.names and child.pid not in self.seen:
                    self.seen[child.pid] = f"{name} (pid {child.pid}) during {self.current}"
            self._stop.wait(self.interval_s)

    def start(self) -> HeavyProcessWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


WATCH_KEY = pytest.StashKey[HeavyProcessWatch]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Arm the watch when no selected test needs Spark, PostgreSQL, the stack, a JVM or the IaC tools.

    The modules collection imported live as long as the run: ``gc.freeze()`` takes them out of every
    later garbage collection, which otherwise walks all of them again and again.
    """
    gc.freeze()
    if session.items and not any(_needs_something(item) for item in session.items):
        session.config.stash[WATCH_KEY] = HeavyProcessWatch().start()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    watch = item.config.stash.get(WATCH_KEY, None)
    if watch is not None:
        watch.current = item.nodeid
    try:
        return (yield)
    finally:
        if watch is not None:
            watch.current = "(between tests)"


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Hand the frozen objects back to the collector, so the process's exit frees them (native extensions
    such as DuckDB's report objects still alive at exit as leaks)."""
    gc.unfreeze()


@pytest.fixture(scope="session", autouse=True)
def fast_tests_start_no_jvm_or_postgres(request: pytest.FixtureRequest) -> Iterator[None]:
    """In a run of tests that need nothing (`make test-fast`), a JVM or PostgreSQL fails the run, naming
    the test that started it: its marker is missing."""
    yield
    watch = request.config.stash.get(WATCH_KEY, None)
    if watch is not None:
        watch.stop()
        assert not watch.seen, "unmarked tests started a JVM or PostgreSQL: " + "; ".join(watch.seen.values())


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
    settings = private_stack_settings(home)
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
