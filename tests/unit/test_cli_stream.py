"""``smartcity stream`` as a user runs it, in a real process: a stack that is down costs seconds and one
line; SIGTERM and Ctrl-C stop the job cleanly with exit code 0 (the documented behaviour)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartcity.config import Settings
from smartcity.local.kafka import KafkaBroker
from smartcity.local.process import free_port

pytestmark = pytest.mark.unit


def _cli(*args: str, env: dict[str, str]) -> list[str]:
    return [sys.executable, "-m", "smartcity.cli", *args]


def test_stream_with_the_stack_down_fails_in_seconds_with_what_to_run(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = {**os.environ, "SMARTCITY_LOCAL__KAFKA_PORT": str(port)}
    started = time.monotonic()
    out = subprocess.run(
        _cli("stream", "--home", str(tmp_path / "h"), env=env),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr[-2000:]
    assert len(lines) == 1, out.stderr[-2000:]
    assert f"127.0.0.1:{port}" in lines[0] and " up --home " in lines[0]
    assert "Traceback" not in out.stderr and not out.stdout.strip()
    # Interpreter start-up and imports included; the broker check itself gives up after 5 s.
    assert elapsed < 60, f"took {elapsed:.0f} s"


@pytest.fixture(scope="module")
def kafka_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real broker (the stack's Kafka alone) under a home of its own, started once for the module (each
    test's job has a home, so checkpoints, of its own); yields the CLI env."""
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


@pytest.mark.integration
@pytest.mark.spark  # the stream command starts Spark
@pytest.mark.jvm  # and the test starts a Kafka broker
@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_the_stream_cleanly_with_exit_0(
    how: str, kafka_env: dict[str, str], tmp_path: Path
) -> None:
    env, home = kafka_env, tmp_path / "h"
    proc = subprocess.Popen(
        _cli("stream", "--home", str(home), "--trigger", "2s", env=env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    try:
        # Running for real once Spark committed its first micro-batch.
        committed = home / "checkpoints" / "query" / "commits" / "0"
        deadline = time.monotonic() + 600
        while not committed.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert committed.exists(), proc.communicate(timeout=60)
        if how == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole group
        # A micro-batch under way finishes first (it commits); on a loaded machine that takes a while.
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    assert "stopped by signal" in stdout
    assert "Traceback" not in stderr and "py4j" not in stderr, stderr[-3000:]
    # The terminal gets the job's own per-step metrics lines (JSON, as on Glue) and nothing else.
    for line in stderr.splitlines():
        assert json.loads(line)["event"] == "stream_batch", line


def test_a_first_micro_batch_without_any_event_time_plans_without_error() -> None:
    """``smartcity up`` then ``smartcity stream`` on empty topics: no watermark before or after the step."""
    from smartcity.config import StreamSettings
    from smartcity.stream.step import BEGINNING, step_bounds

    bounds = step_bounds(None, None, StreamSettings())
    assert bounds["final_until"] == BEGINNING and bounds["gps_until"] == BEGINNING
