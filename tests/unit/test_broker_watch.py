"""The broker watch of ``smartcity stream``: a broker back within the patience is forgiven, one silent
for longer stops the job once, with one line (the check is scripted; the stack tests use a real broker)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from smartcity.commands._broker_watch import BrokerWatch
from smartcity.errors import StackError

pytestmark = pytest.mark.unit


def _scripted(answers: list[bool], done: threading.Event) -> Callable[[], None]:
    """A check that answers as scripted, then keeps the last answer; ``done`` once that was given."""

    def check() -> None:
        spent = len(answers) == 1
        up = answers[0] if spent else answers.pop(0)
        if spent:
            done.set()
        if not up:
            raise StackError("cannot reach Kafka at 127.0.0.1:1 within 5 s; is the local stack up?")

    return check


def test_a_broker_silent_past_the_patience_stops_the_job_once_with_one_line() -> None:
    lost: list[int] = []
    done = threading.Event()
    with BrokerWatch(
        _scripted([True, False], done), patience_s=0.05, on_lost=lambda: lost.append(1), every_s=0.01
    ) as watch:
        assert watch.lost.wait(10)
    assert lost == [1] and watch.is_down()
    message = str(watch.error())
    assert message.startswith("cannot reach Kafka at 127.0.0.1:1") and "patience 0.05 s" in message
    assert "\n" not in message and "resumes there" in message


def test_a_broker_back_within_the_patience_goes_unnoticed() -> None:
    lost: list[int] = []
    done = threading.Event()
    script = [False, False, True]
    with BrokerWatch(
        _scripted(script, done), patience_s=60.0, on_lost=lambda: lost.append(1), every_s=0.01
    ) as watch:
        assert done.wait(10)
    assert lost == [] and not watch.lost.is_set() and not watch.is_down()


class _FakeClock:
    """Time that moves only when a scripted check says it took some."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_patience_counts_from_the_brokers_last_answer_not_from_the_first_failed_check() -> None:
    """A check of a dead broker waits out its own timeout (5 s): two failed checks after the last answer
    are 10 s of silence, so a 10 s patience is over at the end of the second, not of a third."""
    clock = _FakeClock()
    checks: list[bool] = []

    def check() -> None:
        up = not checks  # the first check answers, every later one waits 5 s for nothing
        checks.append(up)
        if not up:
            clock.now += 5.0
            raise StackError("cannot reach Kafka at 127.0.0.1:1 within 5 s; is the local stack up?")

    with BrokerWatch(check, patience_s=10.0, on_lost=lambda: None, every_s=0.001, clock=clock) as watch:
        assert watch.lost.wait(10)
    assert checks == [True, False, False]
    assert "no answer for 10 s, patience 10 s" in str(watch.error())
