"""``run_all``: results in submission order; a failure surfaces only after every action has finished."""

from __future__ import annotations

import threading
import time

import pytest

from smartcity.stream.overlap import run_all

pytestmark = pytest.mark.unit


def test_results_come_back_in_order_and_actions_overlap() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def action(n: int, pause: float):
        def run() -> int:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(pause)
            with lock:
                running[0] -= 1
            return n

        return run

    assert run_all([action(i, 0.05 * (4 - i)) for i in range(4)], workers=3) == [0, 1, 2, 3]
    assert peak[0] == 3


def test_a_failure_waits_for_the_other_actions_then_raises_the_first() -> None:
    finished: list[str] = []

    def slow() -> None:
        time.sleep(0.2)
        finished.append("slow")

    def fail(message: str):
        def run() -> None:
            raise ValueError(message)

        return run

    with pytest.raises(ValueError, match="first"):
        run_all([fail("first"), slow, fail("second")], workers=3)
    assert finished == ["slow"]
