"""Libraries' output goes to per-run log files under the home, and old runs are pruned (bounded)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smartcity.local import runlog
from smartcity.local.process import spawn, stop
from smartcity.simulate.sinks import KAFKA_CLIENT_LOGGER

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _own_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runlog.RUN_DIR_ENV, raising=False)


def test_native_output_goes_to_the_run_log_and_the_product_keeps_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run = runlog.begin(tmp_path, "demo")
    with runlog.native_output_to(run, "demo") as native, runlog.python_logging_to(run, "demo") as python:
        # A child process (as Spark's JVM is) writes to descriptor 2; librdkafka logs through logging.
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('WARN Utils: chatter\\n')"])
        logging.getLogger(KAFKA_CLIENT_LOGGER).warning("Coordinator load in progress")
        print("smartcity: the product's own line", file=sys.stderr)
    terminal = capfd.readouterr().err
    assert terminal == "smartcity: the product's own line\n"
    assert "WARN Utils: chatter" in native.read_text()
    assert "Coordinator load in progress" in python.read_text()
    assert native.parent == python.parent == run.directory == tmp_path / "logs" / run.directory.name


def test_only_the_newest_runs_are_kept_and_never_one_a_running_component_writes_to(tmp_path: Path) -> None:
    first = runlog.begin(tmp_path, "up")
    record = spawn(
        "sleeper",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        log=tmp_path / "logs" / "sleeper.log",
        port=0,
    )
    try:
        assert (tmp_path / "logs" / "sleeper.log").resolve() == first.path("sleeper.log")
        for n in range(runlog.RUNS_KEPT + 5):
            os.environ.pop(runlog.RUN_DIR_ENV)
            (tmp_path / "logs" / f"20000101T0000{n:02d}-old-1").mkdir()
            newest = runlog.begin(tmp_path, "demo")
        runs = sorted(p.name for p in (tmp_path / "logs").iterdir() if p.is_dir() and not p.is_symlink())
        assert first.directory.name in runs, "the running component's log directory is kept"
        assert newest.directory.name in runs
        assert len(runs) <= runlog.RUNS_KEPT + 1
        assert not any(name.startswith("20000101T000000") for name in runs), "the oldest runs went"
    finally:
        stop(record, timeout=5)
