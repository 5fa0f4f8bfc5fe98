"""PostgreSQL (the local warehouse) SIGKILLed in the middle of a load, then started again.

The loader writes everything of a load in one transaction; a server killed before COMMIT leaves
nothing of it after crash recovery, and the next ``smartcity load`` loads the lake again, exactly once.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import psycopg
import pytest

from tests.integration.crash import sigkill
from tests.integration.test_load import (
    H1,
    _blocked_backend,
    _loader_env,
    fresh_warehouse,
    lake_event_ids,
    scalar,
    write_hour,
)

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.mark.timeout(1200)
def test_postgres_killed_during_a_load_then_the_next_load_completes_exactly_once(stack, tmp_path) -> None:
    """The server dies while the loader waits for its last statement before COMMIT (the MERGE has run):
    a test connection holds a lock on the run table to stop it exactly there."""
    settings = fresh_warehouse(stack.settings, tmp_path, "wh_fault_postgres")
    write_hour(settings, H1, 3000, seed=11)
    postgres = stack.stack.component("postgres")
    cmd = [sys.executable, "-m", "smartcity.cli", "load"]
    blocker = psycopg.connect(settings.warehouse_dsn)
    proc = None
    try:
        blocker.execute("LOCK TABLE etl_load_run IN EXCLUSIVE MODE")
        proc = subprocess.Popen(
            cmd, env=_loader_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        with psycopg.connect(settings.warehouse_dsn, autocommit=True) as watch:
            deadline = time.monotonic() + 600
            while not _blocked_backend(watch):
                assert proc.poll() is None, proc.communicate()[0][-2000:]
                assert time.monotonic() < deadline, "the loader never reached its commit"
                time.sleep(0.2)
        sigkill(postgres)
        output = proc.communicate(timeout=300)[0]
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(psycopg.Error):
            blocker.close()
        stack.stack.up()  # what `smartcity up` does: starts PostgreSQL again on its data directory
    assert proc.returncode == 2 and "Traceback" not in output, output[-2000:]
    last = output.strip().splitlines()[-1]
    assert last.startswith("smartcity: error: load failed, warehouse unchanged: "), last

    assert scalar(settings, "SELECT count(*) FROM fact_vehicle_telemetry") == 0
    assert scalar(settings, "SELECT count(*) FROM etl_load_ledger") == 0
    assert scalar(settings, "SELECT count(*) FROM etl_load_run") == 0
    done = subprocess.run(cmd, env=_loader_env(settings), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "read 3000, inserted 3000, updated 0, skipped 0" in done.stdout
    loaded = scalar(settings, "SELECT count(*) FROM fact_vehicle_telemetry")
    assert loaded == len(lake_event_ids(settings)) == 3000
    assert scalar(settings, "SELECT count(*) FROM etl_load_run") == 1
