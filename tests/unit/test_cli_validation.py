"""Every argument of every command that changes data is checked before anything is changed: a bad value
gives one line naming the flag the user typed, exit code 2, and the stack's home stays as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smartcity.cli import main
from smartcity.local.process import free_port

pytestmark = pytest.mark.unit

# (arguments, the flag the error must name): each command that deletes, writes or starts something.
BAD_ARGUMENTS = [
    (["demo", "--fault-rate", "2"], "--fault-rate"),
    (["demo", "--fault-rate", "0.3"], "--fault-rate"),
    (["demo", "--vehicles", "0"], "--vehicles"),
    (["demo", "--duration", "-5"], "--duration"),
    (["demo", "--speed", "fast"], "--speed"),
    (["demo", "--trigger", "soon"], "--trigger"),
    (["demo", "--trigger", "0s"], "--trigger"),
    (["stream", "--trigger", "0"], "--trigger"),
    (["stream", "--max-offsets", "-1"], "--max-offsets"),
    (["stream", "--watermark-delay", "later"], "--watermark-delay"),
    (["stream", "--available-now", "--starting-offsets", "middle"], "--starting-offsets"),
    (["simulate", "--late-rate", "2"], "--late-rate"),
    (["simulate", "--duplicate-rate", "-0.1"], "--duplicate-rate"),
    (["simulate", "--vehicles", "0"], "--vehicles"),
    (["simulate", "--anomaly-rate", "0.6"], "--anomaly-rate"),
    (["simulate", "--anomaly-rate", "often"], "--anomaly-rate"),
    (["demo", "--anomaly-rate", "-1"], "--anomaly-rate"),
    (["simulate", "--speed", "0"], "--speed"),
    (["simulate", "--duration", "0"], "--duration"),
    (["simulate", "--start", "yesterday"], "--start"),
    (["warehouse", "migrate", "--target", "0"], "--target"),
    (["warehouse", "migrate", "--target", "999"], "--target"),
    (["load", "--source", "no_such_table"], "--source"),
    (["crawl", "--table", "no_such_table"], "--table"),
    (["up", "--wipe"], "--wipe"),
    (["down", "--all"], "--all"),
]


def _snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stack home holding data a destructive command would clear; ports nobody listens on."""
    home = tmp_path / "home"
    data = ("lake/raw/vehicle_data/part-0.parquet", "checkpoints/query/offsets/0", "manifests/m.json")
    for relative in data:
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_text(relative)
    monkeypatch.setenv("SMARTCITY_LOCAL__HOME", str(home))
    for port in ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "POSTGRES_PORT", "MOTO_PORT"):
        monkeypatch.setenv(f"SMARTCITY_LOCAL__{port}", str(free_port()))
    return home


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(("argv", "flag"), BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_a_bad_argument_changes_nothing_and_names_its_flag(
    argv: list[str], flag: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(home)
    code = _exit_code([*argv, "--home", str(home)])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("smartcity: error:"), err
    assert flag in lines[0] and "Traceback" not in err
    assert _snapshot(home) == before
    assert sorted(p.name for p in home.iterdir()) == ["checkpoints", "lake", "manifests"], "nothing created"


def test_the_demo_rejects_a_bad_fault_rate_in_a_real_process_before_touching_anything(home: Path) -> None:
    """The newcomer's case: ``smartcity demo --fault-rate 2`` used to clear everything, then fail."""
    before = _snapshot(home)
    out = subprocess.run(
        [sys.executable, "-m", "smartcity.cli", "demo", "--fault-rate", "2"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "smartcity: error: argument --fault-rate: must be between 0 and 0.25 (each of the four faults gets "
        "this rate), got 2 (see 'smartcity demo --help')"
    ]
    assert "data kept" not in out.stdout and _snapshot(home) == before
