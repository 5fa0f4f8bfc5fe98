"""Per-run log files: libraries' chatter goes to ``<home>/logs/<run-id>/``, the terminal keeps the product's.

Every CLI run that starts libraries (Kafka clients, Spark, the stack's servers) opens a run directory.
Inside it, per command: ``<command>.log`` (Python logging, including librdkafka's lines through the
clients' ``logger`` option; size-capped and rotated) and ``<command>.native.log`` (whatever native code
and child JVMs write to file descriptor 2), plus one file per process the run starts. Child processes
inherit the run through ``RUN_DIR_ENV`` and write into the same directory. Only the newest ``RUNS_KEPT``
run directories are kept, and never one that a running component of the stack still writes to, so logs
are bounded instead of appended to forever.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

RUN_DIR_ENV = "SMARTCITY_RUN_LOG_DIR"
RUNS_KEPT = 20
# Size cap of each rotating log file, and how many rotated files are kept beside it.
MAX_LOG_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 2
# Loggers whose INFO lines are per call (py4j logs every callback from the JVM): warnings only.
QUIETER_LOGGERS = ("py4j",)


@dataclass(frozen=True)
class RunLog:
    """One run's log directory."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    def python_log(self, command: str) -> Path:
        """Python logging of ``command`` (the Kafka clients' lines included)."""
        return self.path(f"{command}.log")

    def native_log(self, command: str) -> Path:
        """What native code and child JVMs of ``command`` write to file descriptor 2."""
        return self.path(f"{command}.native.log")


def logs_root(home: Path) -> Path:
    return Path(home) / "logs"


_lock = threading.Lock()


def current(home: Path, command: str) -> RunLog:
    """The run this process belongs to: its own or its parent's, else a new one under ``home``."""
    with _lock:
        inherited = os.environ.get(RUN_DIR_ENV)
        if inherited and Path(inherited).resolve().parent == logs_root(home).resolve():
            directory = Path(inherited)
            directory.mkdir(parents=True, exist_ok=True)
            return RunLog(directory)
        return _begin(home, command)


def begin(home: Path, command: str) -> RunLog:
    """A new run directory for this process and its children (old runs beyond ``RUNS_KEPT`` pruned)."""
    with _lock:
        return _begin(home, command)


def _begin(home: Path, command: str) -> RunLog:
    root = logs_root(home)
    root.mkdir(parents=True, exist_ok=True)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{command}-{os.getpid()}"
    directory = root / run_id
    directory.mkdir(exist_ok=True)
    os.environ[RUN_DIR_ENV] = str(directory)
    _prune(root, keep=RUNS_KEPT, current=directory)
    return RunLog(directory)


def _prune(root: Path, keep: int, current: Path) -> None:
    """Delete the oldest run directories beyond ``keep``, except those a live component's link names."""
    in_use = {current.resolve()}
    for link in root.glob("*.log"):
        if link.is_symlink():
            with contextlib.suppress(OSError):
                in_use.add(link.resolve().parent)
    runs = sorted((p for p in root.iterdir() if p.is_dir() and not p.is_symlink()), key=lambda p: p.name)
    for old in runs[:-keep] if len(runs) > keep else []:
        if old.resolve() not in in_use:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def python_logging_to(run: RunLog, command: str) -> Iterator[Path]:
    """Root logger → ``<command>.log`` (size-capped, rotated), Python warnings too; undone on exit."""
    path = run.python_log(command)
    root = logging.getLogger()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    levels = {name: logging.getLogger(name).level for name in (None, *QUIETER_LOGGERS)}
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in QUIETER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    try:
        yield path
    finally:
        logging.captureWarnings(False)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        root.removeHandler(handler)
        handler.close()


@contextlib.contextmanager
def native_output_to(run: RunLog, command: str) -> Iterator[Path]:
    """Send file descriptor 2 to ``<command>.native.log`` while ``sys.stderr`` stays on the terminal.

    Native libraries and child processes (Spark's JVM and its Python workers, librdkafka before its
    logger is set) write to descriptor 2 directly; the product writes through ``sys.stderr``, which is
    re-pointed at a duplicate of the original descriptor, so only the product's lines reach the user.
    """
    path = run.native_log(command)
    sys.stderr.flush()
    saved = os.dup(2)
    product_stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    original = sys.stderr
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)
    sys.stderr = product_stderr
    try:
        yield path
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr = original
        product_stderr.close()
