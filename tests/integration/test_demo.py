"""The README's demo end to end on a private stack: exit code, report, and a clean Ctrl-C."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from smartcity.local.process import free_port, port_accepts

pytestmark = [pytest.mark.integration, pytest.mark.stack, pytest.mark.spark]


PORT_VARS = ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "POSTGRES_PORT", "MOTO_PORT")
# A log4j line (Spark, Kafka clients in the JVM) or a librdkafka line, as they print by default.
LIBRARY_LINE = re.compile(r"\d\d/\d\d/\d\d \d\d:\d\d:\d\d (?:WARN|INFO|ERROR) \w+:|%\d\|\d+\.\d+\|[A-Z]+\|")


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SMARTCITY_LOCAL__HOME": str(home),
        "SMARTCITY_LOCAL__KAFKA_PORT": str(free_port()),
        "SMARTCITY_LOCAL__KAFKA_CONTROLLER_PORT": str(free_port()),
        "SMARTCITY_LOCAL__POSTGRES_PORT": str(free_port()),
        "SMARTCITY_LOCAL__MOTO_PORT": str(free_port()),
        "COLUMNS": "200",
    }


def _listening(env: dict[str, str]) -> list[int]:
    """The stack's ports that still accept connections (moto's command line does not name the home)."""
    return [
        int(env[f"SMARTCITY_LOCAL__{v}"])
        for v in PORT_VARS
        if port_accepts(int(env[f"SMARTCITY_LOCAL__{v}"]))
    ]


def _sigint_as_in_a_terminal() -> None:
    """A non-interactive shell starts its background jobs with SIGINT ignored (a CI runner under
    ``nohup ... &`` is one), and the ignore is inherited; a terminal's foreground job has the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _processes_under(home: Path) -> list[psutil.Process]:
    """Every live process whose command line names the demo's state directory."""
    out = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and str(home) in " ".join(
                proc.info["cmdline"] or []
            ):
                out.append(proc)
        except psutil.Error:
            continue
    return out


@pytest.fixture
def home() -> Iterator[Path]:
    """The demo's home outside pytest's base temp: other pytest runs make that tree private (0700)
    while they run, and PostgreSQL (another user when tests run as root) then loses its data directory."""
    parent = Path(tempfile.mkdtemp(prefix="smartcity-demo-"))
    parent.chmod(0o755)
    try:
        yield parent / "demo"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_demo_reconciles_every_stage_and_leaves_the_stack_down(home: Path) -> None:
    env = _env(home)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartcity.cli",
            "demo",
            "--vehicles",
            "10",
            "--duration",
            "120",
            "--speed",
            "30",
            "--trigger",
            "3s",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    report = out.stdout
    assert out.returncode == 0, report[-4000:] + out.stderr[-3000:]
    assert "reconciliation" in report and "✗" not in report
    for line in ("ingest vehicle_data", "ingest emergency_data", "enrichment", "warehouse"):
        assert line in report, line
    assert "demo OK" in report
    assert "agree: yes" in report and "agree: NO" not in report
    # Not a terminal: plain progress lines while it runs, no escape codes, no libraries' chatter.
    terminal = out.stdout + out.stderr
    assert not re.search(r"[\x1b\r]", terminal)
    assert re.search(r"^\[\s*\d+ s\] simulate \+ stream: running$", report, flags=re.M), report[:3000]
    assert not LIBRARY_LINE.search(terminal), LIBRARY_LINE.findall(terminal)
    run_logs = [d for d in (home / "logs").iterdir() if d.is_dir() and "-demo-" in d.name]
    assert len(run_logs) == 1 and (run_logs[0] / "demo.native.log").exists()
    # The follow-up commands name the executable by its full path, so they run in any shell.
    follow_ups = [ln.strip() for ln in report.splitlines() if ln.strip().startswith(sys.executable)]
    assert any(" up --home " in ln for ln in follow_ups), report[-2000:]
    # The stack was down before the demo, so it is down after it; the data stays for exploration.
    assert not _processes_under(home) and not _listening(env)
    assert any((home / "lake" / "enriched" / "vehicle_enriched").rglob("*.parquet"))
    assert not any((home / "tmp").iterdir()), "Spark's and the loader's scratch files are removed"


def test_ctrl_c_stops_every_process_the_demo_started(home: Path) -> None:
    env = _env(home)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smartcity.cli",
            "demo",
            "--vehicles",
            "10",
            "--duration",
            "600",
            "--speed",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=_sigint_as_in_a_terminal,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list((home / "logs").glob("*-demo-*/stream-live.out")):
        time.sleep(1)
    assert list((home / "logs").glob("*-demo-*/stream-live.out")), "the demo never started its streaming job"
    time.sleep(5)
    proc.send_signal(signal.SIGINT)
    try:
        output, _ = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(f"the demo did not stop within 180 s of Ctrl-C:\n{output[-3000:]}")
    assert proc.returncode != 0
    assert "data kept for exploration" in output
    assert "Traceback" not in output
    deadline = time.monotonic() + 30
    while (_processes_under(home) or _listening(env)) and time.monotonic() < deadline:
        time.sleep(1)
    assert not _processes_under(home), [p.info["cmdline"] for p in _processes_under(home)]
    assert not _listening(env)
