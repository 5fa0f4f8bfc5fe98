"""Every command the README shows and the CLI prints parses with the real argument parser, and the
commands the CLI prints run in a fresh shell as printed (they name the executable by its full path)."""

from __future__ import annotations

import os
import re
import shlex
import socket
from pathlib import Path

import pytest

from smartcity.cli import build_parser
from smartcity.commands._common import command_line, program
from smartcity.commands.demo import DEMO_OPTIONS, follow_up_commands
from smartcity.config import Settings

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


def _parses(argv: list[str]) -> None:
    """Parse like the CLI does; ``--help`` exits 0, anything else that exits is a wrong command."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 0, f"smartcity {shlex.join(argv)} does not parse"


def readme_commands() -> list[str]:
    """Commands in inline code and in shell code blocks (after ``env ...`` prefixes, before comments and a
    trailing ``&``, which is the shell's, not the command's).

    Placeholders (``smartcity ...``) are not commands; ``text`` blocks show output, not commands.
    """
    text = README.read_text()
    found = [m.group(1) for m in re.finditer(r"`(smartcity [^`]+)`", text)]
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            match = re.search(r"(?:^|\s)(smartcity [^#]+)", line)
            if match:
                found.append(match.group(1).strip().removesuffix("&").strip())
    return sorted({c for c in found if not c.endswith("...")})


def test_the_readme_shows_commands() -> None:
    commands = readme_commands()
    assert "smartcity demo --help" in commands
    assert "smartcity warehouse migrate --dialect redshift" in commands


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_parses(command: str) -> None:
    _parses(shlex.split(command)[1:])


def test_the_demo_flags_the_readme_lists_are_the_demo_flags() -> None:
    text = README.read_text()
    listed = re.search(r"`smartcity demo --help` lists the flags: (.*?)\. ", text, flags=re.S)
    assert listed, "the README's demo section lists the demo's flags"
    assert re.findall(r"`(--[a-z-]+)`", listed.group(1)) == [o.flag for o in DEMO_OPTIONS]


def _printed(line: str) -> list[str]:
    """The ``smartcity`` arguments of a printed command, after checking its program runs as printed."""
    argv = shlex.split(line)
    prog = program()
    assert argv[: len(prog)] == prog
    assert Path(prog[0]).is_absolute() and os.access(prog[0], os.X_OK), prog
    return argv[len(prog) :]


def test_the_commands_the_demo_prints_parse_and_name_the_executable(tmp_path: Path) -> None:
    settings = Settings(profile="local", local={"home": tmp_path / "h"})  # type: ignore[arg-type]
    for args in follow_up_commands(settings):
        _parses(_printed(command_line(*args)))


def test_a_console_script_is_printed_by_its_full_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "venv" / "bin" / "smartcity"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr("sys.argv", [str(script), "demo"])
    assert shlex.split(command_line("up", "--home", "/x y")) == [str(script), "up", "--home", "/x y"]


def test_a_port_that_listens_but_never_answers_as_kafka_fails_within_the_checks_timeout(
    tmp_path: Path,
) -> None:
    """Something listens (the TCP connection succeeds) but never speaks Kafka: the check waits out its own
    timeout, not the Kafka client's minutes of retries, and says how long it waited."""
    from smartcity.commands.stream import require_kafka
    from smartcity.errors import StackError

    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        settings = Settings(profile="local", local={"home": tmp_path / "h", "kafka_port": port})  # type: ignore[arg-type]
        with pytest.raises(
            StackError, match=rf"cannot reach Kafka at 127\.0\.0\.1:{port} within 1 s; is the"
        ):
            require_kafka(settings, timeout_s=1)


def test_the_stream_hint_parses(tmp_path: Path) -> None:
    """What ``smartcity stream`` prints when Kafka is down: ``... run: <command>``."""
    from smartcity.commands.stream import require_kafka
    from smartcity.errors import StackError
    from smartcity.local.process import free_port

    settings = Settings(profile="local", local={"home": tmp_path / "h", "kafka_port": free_port()})  # type: ignore[arg-type]
    with pytest.raises(StackError) as error:
        require_kafka(settings, timeout_s=1)
    _parses(_printed(str(error.value).split("run: ", 1)[1]))
