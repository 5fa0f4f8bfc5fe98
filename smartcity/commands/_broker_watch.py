"""While ``smartcity stream`` runs, ask the broker every few seconds whether it still answers.

A broker back within the patience goes unnoticed (Spark's Kafka clients reconnect by themselves). One
silent for longer stops the job with one line instead of leaving it to Spark's client timeouts, which
end in pages of JVM stack or not at all. The micro-batch under way is not committed, so the next start
replays it from the checkpoint: nothing lost, nothing twice (docs/decisions/0010).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from smartcity.errors import SmartCityError, StackError

# Seconds between two checks; a check of a broker that is gone itself waits for its own timeout.
CHECK_EVERY_S = 2.0


class BrokerWatch:
    """Runs ``check`` (raises a one-line ``SmartCityError`` when the broker does not answer) in a thread;
    calls ``on_lost`` once when the broker has not answered for ``patience_s``: counted from its last
    answer (the end of the last check that passed), not from the end of the first one that failed,
    which comes a check's timeout and interval later."""

    def __init__(
        self,
        check: Callable[[], None],
        *,
        patience_s: float,
        on_lost: Callable[[], None],
        every_s: float = CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check = check
        self.patience_s = patience_s
        self.on_lost = on_lost
        self.every_s = every_s
        self.clock = clock
        # The broker's last answer before the checks started failing; None while it answers.
        self.down_since: float | None = None
        self.last_error = ""
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-watch", daemon=True)

    def __enter__(self) -> BrokerWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        answered = self.clock()  # the command checked the broker before it started the job
        while not self._done.wait(self.every_s):
            try:
                self.check()
            except SmartCityError as exc:
                self.down_since = answered
                self.last_error = str(exc)
                if self.clock() - answered >= self.patience_s:
                    self.lost.set()
                    self.on_lost()
                    return
            else:
                answered = self.clock()
                self.down_since = None

    def is_down(self) -> bool:
        """The last check failed (the broker was not answering when the job ended)."""
        return self.down_since is not None

    def error(self) -> StackError:
        """The one line the command ends with when the broker went away while the job ran."""
        waited = self.clock() - self.down_since if self.down_since is not None else 0.0
        return StackError(
            f"{self.last_error} (no answer for {waited:.0f} s, patience {self.patience_s:g} s); "
            "the streaming job stopped and its checkpoint keeps its place: start it again once Kafka "
            "answers and it resumes there"
        )
