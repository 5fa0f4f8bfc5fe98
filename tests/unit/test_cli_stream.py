"""``smartcity stream`` as a user runs it, in a real process: a stack that is down costs seconds and one
line; SIGTERM and Ctrl-C stop the job cleanly with exit code 0 (the documented behaviour)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from smartcity.config import Settings
from smartcity.local.kafka import KafkaBroker
from smartcity.local.process import free_port

pytestmark = pytest.mark.unit


def _cli(*args: str, env: dict[str, str]) -> list[str]:
    return [sys.executable, "-m", "smartcity.cli", *args]


def test_stream_with_the_stack_down_fails_in_seconds_with_what_to_run(tmp_path: Path) -> None:
    """The broker is checked before Spark starts: one line, exit 2, and no JVM ever started. Nothing
    listens at the port, so the check answers at once instead of waiting out its timeout."""
    port = free_port()  # nothing listens there
    env = {**os.environ, "SMARTCITY_LOCAL__KAFKA_PORT": str(port)}
    proc = subprocess.Popen(
        _cli("stream", "--home", str(tmp_path / "h"), env=env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    started: set[str] = set()  # what the command ran under it, polled until it ended
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            started.update(child.name() for child in psutil.Process(proc.pid).children(recursive=True))
        time.sleep(0.1)
    stdout, stderr = proc.communicate(timeout=60)
    lines = stderr.strip().splitlines()
    assert proc.returncode == 2, stderr[-2000:]
    assert len(lines) == 1, stderr[-2000:]
    assert f"127.0.0.1:{port}" in lines[0] and " up --home " in lines[0]
    assert "connection refused" in lines[0]  # not the check's timeout, nor Kafka's minutes of retries
    assert "Traceback" not in stderr and not stdout.strip()
    assert "java" not in started, started


@pytest.fixture(scope="module")
def kafka_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real broker (the stack's Kafka alone) under a home of its own, started once for the module (each
    job has a home, so checkpoints, of its own); yields the CLI env."""
    home = tmp_path_factory.mktemp("kafka") / "h"
    env = {
        **os.environ,
        "SMARTCITY_LOCAL__KAFKA_PORT": str(free_port()),
        "SMARTCITY_LOCAL__KAFKA_CONTROLLER_PORT": str(free_port()),
        "SMARTCITY_LOCAL__POSTGRES_PORT": str(free_port()),
        "SMARTCITY_LOCAL__MOTO_PORT": str(free_port()),
    }
    settings = Settings(
        profile="local",
        local={  # type: ignore[arg-type]
            "home": home,
            "kafka_port": int(env["SMARTCITY_LOCAL__KAFKA_PORT"]),
            "kafka_controller_port": int(env["SMARTCITY_LOCAL__KAFKA_CONTROLLER_PORT"]),
        },
    )
    broker = KafkaBroker(settings)
    broker.start()
    try:
        yield env
    finally:
        broker.stop()


# The signals a job is stopped by: SIGTERM to the process (a service manager, `kill`), SIGINT to its
# whole process group (what a terminal does on Ctrl-C: the JVM under it gets the signal too).
STOPS = {"SIGTERM": (signal.SIGTERM, False), "Ctrl-C": (signal.SIGINT, True)}
# Two cold starts sharing a loaded 2-core machine: a guard against a hang, not a speed target.
FIRST_BATCH_WITHIN_S = 1200


@pytest.mark.integration
@pytest.mark.spark  # the stream command starts Spark
@pytest.mark.jvm  # and the test starts a Kafka broker
@pytest.mark.timeout(1800)  # two Spark starts at once on a shared 2-core machine
def test_sigterm_and_ctrl_c_each_stop_a_running_stream_cleanly_with_exit_0(
    kafka_env: dict[str, str], tmp_path: Path
) -> None:
    """Two jobs on the module's broker at once, each with a home (so checkpoints) of its own: their JVM
    starts and cold first steps overlap on the machine's cores instead of following each other."""
    env = kafka_env
    jobs: dict[str, subprocess.Popen[str]] = {}
    try:
        for how in STOPS:
            with (tmp_path / f"{how}.out").open("w") as out, (tmp_path / f"{how}.err").open("w") as err:
                jobs[how] = subprocess.Popen(
                    _cli("stream", "--home", str(tmp_path / how), "--trigger", "2s", env=env),
                    stdout=out,
                    stderr=err,
                    text=True,
                    env=env,
                    start_new_session=True,  # its own process group, as a shell gives a foreground job
                )
        # Each is running for real once Spark committed its first micro-batch: then it gets its signal.
        waiting = dict(jobs)
        deadline = time.monotonic() + FIRST_BATCH_WITHIN_S
        while waiting and time.monotonic() < deadline:
            for how, proc in list(waiting.items()):
                assert proc.poll() is None, (how, _read(tmp_path, how))
                if (tmp_path / how / "checkpoints" / "query" / "commits" / "0").exists():
                    sig, whole_group = STOPS[how]
                    if whole_group:
                        os.killpg(proc.pid, sig)
                    else:
                        proc.send_signal(sig)
                    del waiting[how]
            time.sleep(0.5)
        assert not waiting, f"no first micro-batch within {FIRST_BATCH_WITHIN_S} s: {sorted(waiting)}"
        for proc in jobs.values():
            # A micro-batch under way finishes first (it commits); on a loaded machine that takes a while.
            proc.wait(timeout=300)
    finally:
        for proc in jobs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    for how, proc in jobs.items():
        stdout, stderr = _read(tmp_path, how)
        assert proc.returncode == 0, (how, stderr[-3000:])
        assert "stopped by signal" in stdout, how
        assert "Traceback" not in stderr and "py4j" not in stderr, (how, stderr[-3000:])
        # The terminal gets the job's own per-step metrics lines (JSON, as on Glue) and nothing else.
        for line in stderr.splitlines():
            assert json.loads(line)["event"] == "stream_batch", (how, line)


def _read(directory: Path, how: str) -> tuple[str, str]:
    """The job's stdout and stderr so far."""
    return (directory / f"{how}.out").read_text(), (directory / f"{how}.err").read_text()


def test_a_first_micro_batch_without_any_event_time_plans_without_error() -> None:
    """``smartcity up`` then ``smartcity stream`` on empty topics: no watermark before or after the step."""
    from smartcity.config import StreamSettings
    from smartcity.stream.step import BEGINNING, step_bounds

    bounds = step_bounds(None, None, StreamSettings())
    assert bounds["final_until"] == BEGINNING and bounds["gps_until"] == BEGINNING
