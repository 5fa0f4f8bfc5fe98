"""The CLI's contract with its users: help everywhere, one-line errors with exit code 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from smartcity.local.process import free_port

pytestmark = pytest.mark.unit


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "smartcity.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def test_help_lists_the_stack_commands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("up", "down", "status", "setup"):
        assert command in out.stdout


@pytest.mark.parametrize("command", ["up", "down", "status", "setup"])
def test_every_command_has_help(command: str) -> None:
    out = run_cli(command, "--help")
    assert out.returncode == 0 and "usage:" in out.stdout


@pytest.mark.parametrize("args", [["up", "--no-such-flag"], ["no-such-command"], []])
def test_wrong_arguments_give_one_line_and_exit_2(args: list[str]) -> None:
    out = run_cli(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smartcity: error:"), out.stderr
    assert "Traceback" not in out.stderr


# `smartcity up` resolves the stack's jars, and without its port check first would start PostgreSQL and
# Kafka before it fails.
@pytest.mark.stack
def test_taken_port_is_named_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        env = {
            "SMARTCITY_LOCAL__MOTO_PORT": str(taken),
            "SMARTCITY_LOCAL__KAFKA_PORT": str(free_port()),
            "SMARTCITY_LOCAL__KAFKA_CONTROLLER_PORT": str(free_port()),
            "SMARTCITY_LOCAL__POSTGRES_PORT": str(free_port()),
        }
        out = run_cli("up", "--home", str(tmp_path / "h"), env=env)
        down = run_cli("down", "--home", str(tmp_path / "h"), env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {taken}" in lines[0] and "moto" in lines[0], out.stderr
    assert down.returncode == 0
    # Nothing was started: a taken port is found before any component launches.
    pids = tmp_path / "h" / "pids"
    assert not pids.exists() or not any(pids.iterdir()), sorted(p.name for p in pids.iterdir())


@pytest.mark.stack  # `smartcity up` starts some of the stack (PostgreSQL, Kafka) before it fails
def test_missing_java_is_named_in_one_line(tmp_path: Path) -> None:
    # A PATH with the Python interpreter's directory only: no java (nor mvn) to be found.
    env = {
        "PATH": str(Path(sys.executable).parent),
        "SMARTCITY_LOCAL__KAFKA_PORT": str(free_port()),
        "SMARTCITY_LOCAL__KAFKA_CONTROLLER_PORT": str(free_port()),
        "SMARTCITY_LOCAL__POSTGRES_PORT": str(free_port()),
        "SMARTCITY_LOCAL__MOTO_PORT": str(free_port()),
    }
    out = run_cli("up", "--home", str(tmp_path / "h"), env=env)
    run_cli("down", "--home", str(tmp_path / "h"), env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "'java'" in lines[0], out.stderr


def test_status_of_a_stopped_stack_exits_3(tmp_path: Path) -> None:
    out = run_cli("status", "--home", str(tmp_path / "h"))
    assert out.returncode == 3 and "stopped" in out.stdout
