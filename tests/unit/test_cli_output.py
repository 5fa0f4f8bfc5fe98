"""Output that is not a terminal (a file, a CI log) gets plain progress lines: no ANSI codes, no carriage
returns, and something to read while the run goes instead of silence until the end."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from smartcity.demo.board import PlainStageLog, stage_view

pytestmark = pytest.mark.unit

ESCAPES = re.compile(r"[\x1b\r]")
REPO = Path(__file__).resolve().parents[2]


def test_the_demo_prints_plain_stage_lines_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100)
    assert not console.is_terminal
    with stage_view(console, "smartcity demo") as progress:
        assert isinstance(progress, PlainStageLog)
    now = [0.0]
    progress = PlainStageLog(console, clock=lambda: now[0])
    progress("local stack", "running")
    progress("local stack", "done in 1.0 s: started kafka")
    progress("simulate + stream", "running")
    for n in range(1, 51):  # reported twice a second: one line per 10 s
        now[0] += 0.5
        progress("simulate + stream", f"{n * 1000:,} events acknowledged")
    progress("simulate + stream", "simulator done; stopping the streaming job")  # a new message: at once
    progress("simulate + stream", "done in 25.0 s: 50,000 events")
    assert not ESCAPES.search(out.getvalue())
    assert out.getvalue().splitlines() == [
        "[    0 s] local stack: running",
        "[    0 s] local stack: done in 1.0 s: started kafka",
        "[    0 s] simulate + stream: running",
        "[    0 s] simulate + stream: 1,000 events acknowledged",
        "[   10 s] simulate + stream: 21,000 events acknowledged",
        "[   20 s] simulate + stream: 41,000 events acknowledged",
        "[   25 s] simulate + stream: simulator done; stopping the streaming job",
        "[   25 s] simulate + stream: done in 25.0 s: 50,000 events",
    ]


def test_the_simulator_prints_plain_progress_into_a_pipe(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartcity.cli",
            "simulate",
            "--dry-run",
            "--backfill",
            "--duration",
            "300",
            "--vehicles",
            "20",
            "--home",
            str(tmp_path / "h"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert not ESCAPES.search(out.stdout + out.stderr)
    assert re.search(r"^\[\s*\d+ s\] event time \S+: [\d,]+ produced", out.stderr, flags=re.M), out.stderr
    assert "manifest:" in out.stderr


@pytest.mark.jvm  # the machine line asks `java -version` and `mvn -v`
def test_the_ci_log_starts_with_a_plain_machine_line() -> None:
    script = (REPO / ".ci" / "run").read_text()
    first = ("plain()", 'echo "== machine')
    header = "\n".join(line for line in script.splitlines() if line.startswith(first))
    out = subprocess.run(["bash", "-c", header], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("== machine:") and "\x1b" not in out.stdout, repr(out.stdout)
