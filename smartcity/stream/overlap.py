"""Run independent Spark actions from a few driver threads, so their fixed costs overlap.

A step writes several small Parquet outputs (five raw tables and the quarantine). Each write has a fixed
cost whatever its size -- planning, task scheduling, the output committer's renames and listings,
mostly driver-side and single-threaded -- while its tasks leave cores idle. Spark runs jobs
submitted from different threads concurrently (PySpark pins each Python thread to a JVM thread), so
independent writes submitted together share those waits instead of queueing behind each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

# Enough to overlap one write's driver-side work with another's tasks on a small executor; more threads
# only add contention on local[2].
DEFAULT_WORKERS = 3


def run_all(actions: Sequence[Callable[[], T]], workers: int = DEFAULT_WORKERS) -> list[T]:
    """Run every action, ``workers`` at a time; return their results in order.

    Waits for all of them even when one fails (no write is left running behind the caller's back),
    then raises the first failure in order.
    """
    if len(actions) <= 1 or workers <= 1:
        return [action() for action in actions]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smartcity-spark") as pool:
        futures = [pool.submit(action) for action in actions]
    return [f.result() for f in futures]
