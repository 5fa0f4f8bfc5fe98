"""How the demo shows its progress: a live table on a terminal, plain timestamped lines anywhere else.

A file or a CI log gets no ANSI codes and no carriage returns, only whole lines: each stage's start and
end, every new message at once, and a running count at most every ``PLAIN_EVERY_S`` seconds.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.live import Live
from rich.table import Table

Progress = Callable[[str, str], None]
PLAIN_EVERY_S = 10.0
_NUMBER = re.compile(r"\d[\d,.]*")


class StageBoard:
    """The live display's rows: one per stage with its latest detail and when it was reported."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: dict[str, tuple[str, float]] = {}
        self.started = time.monotonic()

    def update(self, stage: str, detail: str) -> None:
        self.rows[stage] = (detail, time.monotonic() - self.started)

    def render(self) -> Table:
        table = Table(title=self.title, expand=True)
        table.add_column("stage", no_wrap=True)
        table.add_column("progress")
        table.add_column("t", justify="right", no_wrap=True)
        for stage, (detail, t) in self.rows.items():
            table.add_row(stage, detail, f"{t:5.0f} s")
        return table


class PlainStageLog:
    """Progress as plain lines for logs: ``[  12 s] stage: detail``, running details throttled."""

    def __init__(
        self, console: Console, every_s: float = PLAIN_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console = console
        self.every_s = every_s
        self.clock = clock
        self.started = clock()
        self._last: dict[str, tuple[str, float]] = {}

    def __call__(self, stage: str, detail: str) -> None:
        now = self.clock()
        last = self._last.get(stage)
        # Only a counter's updates are throttled (same text once the numbers are masked); a new message,
        # like the next phase of a stage, prints at once.
        if last is not None and _shape(detail) == _shape(last[0]) and now - last[1] < self.every_s:
            return
        self._last[stage] = (detail, now)
        self.console.out(f"[{now - self.started:5.0f} s] {stage}: {detail}", highlight=False)


def _shape(detail: str) -> str:
    return _NUMBER.sub("#", detail)


@contextlib.contextmanager
def stage_view(console: Console, title: str) -> Iterator[Progress]:
    """The progress callback for this output: live table on a terminal, plain lines otherwise."""
    if not console.is_terminal:
        yield PlainStageLog(console)
        return
    board = StageBoard(title)
    with Live(board.render(), console=console, refresh_per_second=4, transient=False) as live:

        def progress(stage: str, detail: str) -> None:
            board.update(stage, detail)
            live.update(board.render())

        yield progress
