"""Crash a local stack component the way a crash does: SIGKILL to its whole process group."""

from __future__ import annotations

import os
import signal
import time

from smartcity.local.component import Component
from smartcity.local.process import port_is_free


def sigkill(component: Component, timeout_s: float = 30.0) -> None:
    """Kill the component's process group with SIGKILL (no shutdown hook runs) and wait until it is gone
    and the kernel has released its ports (a JVM's threads close its sockets a moment after its pid is
    reported dead; a restart before then finds its own port taken).

    Its pid file stays behind, as after a real crash; ``LocalStack.up`` starts it again on the same data.
    """
    record = component.record()
    assert record is not None, f"{component.name} is not running"
    os.killpg(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while record.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not record.alive(), f"{component.name} survived SIGKILL"
    while not all(port_is_free(port) for port in component.ports) and time.monotonic() < deadline:
        time.sleep(0.1)
    taken = [port for port in component.ports if not port_is_free(port)]
    assert not taken, f"{component.name}'s ports {taken} still taken after SIGKILL"
