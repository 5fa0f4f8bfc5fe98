"""Crash a local stack component the way a crash does: SIGKILL to its whole process group."""

from __future__ import annotations

import os
import signal
import time

from smartcity.local.component import Component


def sigkill(component: Component, timeout_s: float = 30.0) -> None:
    """Kill the component's process group with SIGKILL (no shutdown hook runs) and wait until it is gone.

    Its pid file stays behind, as after a real crash; ``LocalStack.up`` starts it again on the same data.
    """
    record = component.record()
    assert record is not None, f"{component.name} is not running"
    os.killpg(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while record.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not record.alive(), f"{component.name} survived SIGKILL"
