"""Scratch space of one CLI run under the stack's home, removed when the run ends.

Spark's local directories (block manager, shuffle and ``spark-*`` folders) and Python temporary folders
(the loader's staging files) default to the system's temp directory, where a killed run leaves them
behind. A run points both at ``<home>/tmp/<pid>/`` and deletes it on exit; a folder left by a run that
was killed outright (SIGKILL) is deleted by the next run, once its process is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil

# Spark reads its local directories from this variable (it wins over spark.local.dir).
SPARK_LOCAL_DIRS = "SPARK_LOCAL_DIRS"


def scratch_root(home: Path) -> Path:
    return Path(home) / "tmp"


@contextlib.contextmanager
def run_scratch(home: Path) -> Iterator[Path]:
    """Point Spark and ``tempfile`` at a fresh folder under ``home`` for the duration of the run."""
    root = scratch_root(home)
    _remove_orphans(root)
    directory = root / str(os.getpid())
    directory.mkdir(parents=True, exist_ok=True)
    saved_env = os.environ.get(SPARK_LOCAL_DIRS)
    saved_tempdir = tempfile.tempdir
    os.environ[SPARK_LOCAL_DIRS] = str(directory.absolute())
    tempfile.tempdir = str(directory.absolute())
    try:
        yield directory
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop(SPARK_LOCAL_DIRS, None)
        else:
            os.environ[SPARK_LOCAL_DIRS] = saved_env
        shutil.rmtree(directory, ignore_errors=True)


def _remove_orphans(root: Path) -> None:
    """Delete scratch folders whose run (named by its PID) no longer exists."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.name.isdigit() and not psutil.pid_exists(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
