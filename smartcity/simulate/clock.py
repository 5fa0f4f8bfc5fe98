"""Event-time pacing: real time, accelerated (``speed`` × real time), or backfill (no waiting).

In paced modes the event clock is also never allowed ahead of the wall clock: a message the simulator
calls valid must not be rejected downstream as a future timestamp. An accelerated run therefore
starts in the past (see ``default_start_ms``) and catches up with now.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

Mode = Literal["realtime", "backfill"]


class SimClock:
    """The simulator's event-time pacer: when event time may be emitted, in ``mode`` at ``speed``."""

    def __init__(self, mode: Mode, speed: float, sim_start_ms: int, stop: threading.Event) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.mode = mode
        self.speed = speed
        self.sim_start_ms = sim_start_ms
        self.wall_start = time.time()
        self.stop = stop

    def wait_until(self, sim_ms: int) -> None:
        """Block until the wall clock allows emitting event time ``sim_ms`` (returns early on stop)."""
        if self.mode == "backfill":
            return
        paced = self.wall_start + (sim_ms - self.sim_start_ms) / 1000.0 / self.speed
        due = max(paced, sim_ms / 1000.0)
        delay = due - time.time()
        if delay > 0:
            self.stop.wait(delay)


def default_start_ms(mode: Mode, speed: float, duration_s: float | None, now_ms: int) -> int:
    """Backfill and accelerated runs end about now; a real-time run starts now (whole seconds)."""
    paced_now = mode == "realtime" and speed == 1.0
    start = now_ms if paced_now else now_ms - int((duration_s or 3600.0) * 1000)
    return start - start % 1000
