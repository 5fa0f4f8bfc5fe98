"""The CLI's contract with its users: help everywhere, one-line errors with exit code 2.

Most cases call ``main()`` in this process (argument errors and messages are the same there); a few run
``python -m smartcity.cli`` where the real process is what is tested: its exit code, its imports.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from smartcity.cli import build_parser, main
from smartcity.local.process import free_port

pytestmark = pytest.mark.unit

# Modules that take seconds to import together: building the parser (every ``--help``, every argument
# error) must not import them; a command imports what it needs when it runs.
HEAVY_MODULES = (
    "boto3",
    "botocore",
    "confluent_kafka",
    "duckdb",
    "moto",
    "pandas",
    "psycopg",
    "py4j",
    "pyarrow",
    "pyspark",
    "rich",
    "sqlglot",
    "streamlit",
)


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "smartcity.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def cli_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``smartcity ARGS`` through ``main()`` here: (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse: --help, wrong arguments
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def _commands() -> list[str]:
    """The registered sub-commands, in the order the parser lists them."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_help_lists_the_stack_commands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("up", "down", "status", "setup"):
        assert command in out.stdout


def _heavy_modules_after(statement: str) -> tuple[object, list[str], str]:
    """Run ``statement`` (its value is ``result``) in a fresh interpreter after importing the CLI; its
    result, the heavy modules then loaded, and its stderr."""
    probe = (
        "import json, sys\n"
        "import smartcity.cli\n"
        f"result = {statement}\n"
        f"print(json.dumps([result, sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result, heavy = json.loads(out.stdout.splitlines()[-1])
    return result, heavy, out.stderr


def test_building_the_parser_imports_no_heavy_library() -> None:
    """``--help`` and argument errors answer at once: the libraries a command runs on load when it runs."""
    _, heavy, _ = _heavy_modules_after("smartcity.cli.build_parser() and None")
    assert heavy == []


def test_an_unknown_load_source_is_refused_before_spark_is_imported() -> None:
    """A mistyped table name is a usage error from the load map alone, not after seconds of pyspark."""
    code, heavy, stderr = _heavy_modules_after("smartcity.cli.main(['load', '--source', 'no_such_table'])")
    assert (code, heavy) == (2, [])
    assert "argument --source: unknown table no_such_table" in stderr


def test_every_registered_command_is_listed() -> None:
    for command in ("up", "down", "status", "setup", "demo", "simulate", "stream", "query", "warehouse"):
        assert command in _commands()


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli_in_process(capsys, command, "--help")
    assert code == 0 and out.startswith(f"usage: smartcity {command}"), err


@pytest.mark.parametrize("args", [["up", "--no-such-flag"], ["no-such-command"], []])
def test_wrong_arguments_give_one_line_and_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli_in_process(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smartcity: error:"), err
    assert "Traceback" not in err


def test_a_wrong_command_exits_2_with_one_line_from_a_real_process() -> None:
    out = run_cli("no-such-command")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("smartcity: error: argument COMMAND: invalid choice: 'no-such-command'")
    assert lines[0].endswith("(see 'smartcity --help')")


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


def test_status_of_a_stopped_stack_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli_in_process(capsys, "status", "--home", str(tmp_path / "h"))
    assert code == 3 and "stopped" in out
