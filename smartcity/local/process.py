"""Background processes of the local stack: start detached, remember by PID, stop by PID, leave none.

Each component runs in its own session (process group), so stopping it also stops anything it forked.
A PID alone can be reused by the OS after a crash, so a recorded process is trusted only if its start
time still matches (psutil's ``create_time``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from smartcity.errors import StackError
from smartcity.local import runlog


@dataclass(frozen=True)
class ProcessRecord:
    """What ``down`` needs to find and stop a process it started, even from another shell."""

    name: str
    pid: int
    create_time: float
    port: int

    def process(self) -> psutil.Process | None:
        """The live process, or None if it ended or the PID now belongs to someone else."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    def alive(self) -> bool:
        return self.process() is not None


class PidFile:
    """A JSON file per component under the stack's state directory."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / "pids" / f"{name}.json"

    def write(self, record: ProcessRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(self.path)

    def read(self) -> ProcessRecord | None:
        try:
            return ProcessRecord(**json.loads(self.path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A port the OS says is free now (used by tests to run stacks side by side)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(
    name: str,
    cmd: list[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    port: int,
    user: str | None = None,
) -> ProcessRecord:
    """Start ``cmd`` detached in a new session; its output goes to this run's log directory.

    ``log`` is the component's stable name (``<home>/logs/<name>.log``): it becomes a link to the file in
    the run directory (``smartcity.local.runlog``), so each start writes a new file and old ones are pruned.
    """
    target = _run_log_file(log)
    with target.open("wb") as out:
        try:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                user=user,
            )
        except FileNotFoundError:
            raise StackError(f"cannot start {name}: '{cmd[0]}' not found") from None
    return ProcessRecord(name, proc.pid, psutil.Process(proc.pid).create_time(), port)


def _run_log_file(log: Path) -> Path:
    """The file in the current run's directory that ``log`` (a symlink) points to from now on."""
    home = log.parent.parent
    target = runlog.current(home, "up").path(log.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    if log.is_symlink() or log.exists():
        log.unlink()
    log.symlink_to(target.relative_to(log.parent))
    return target


def wait_until(
    check,
    *,
    timeout: float,
    what: str,
    record: ProcessRecord | None = None,
    log: Path | None = None,
    interval: float = 0.2,
) -> None:
    """Poll ``check`` until true; fail early with the log's last line if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if record is not None and not record.alive():
            raise StackError(f"{what} exited during start-up{_last_line(log)}")
        time.sleep(interval)
    raise StackError(f"{what} not ready after {timeout:.0f} s{_last_line(log)}")


def _last_line(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return f" (log {log}: {lines[-1][:200]})" if lines else f" (log {log})"


def stop(record: ProcessRecord, timeout: float, sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal the process group (SIGTERM by default), then SIGKILL whatever is left after ``timeout``."""
    proc = record.process()
    if proc is None:
        return
    group = [proc, *proc.children(recursive=True)]
    try:
        os.killpg(record.pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        proc.terminate()
    _, alive = psutil.wait_procs(group, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=5)
