"""Progress and the closing summary, fed by ``Simulation.run``: a live table on a terminal, plain lines
(no ANSI codes, no carriage returns) in a file or a CI log."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from smartcity.simulate.encode import from_epoch_ms
from smartcity.simulate.runner import Progress


class LiveProgress:
    """Produced messages and events/s per topic, with the acknowledged total, refreshed in place."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._live = Live(console=self.console, refresh_per_second=4, transient=False)
        self._last: tuple[float, dict[str, int]] | None = None

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._live.__exit__(*exc)

    def __call__(self, p: Progress) -> None:
        rates: dict[str, float] = {}
        if self._last is not None and p.elapsed_s > self._last[0]:
            dt = p.elapsed_s - self._last[0]
            rates = {t: (n - self._last[1].get(t, 0)) / dt for t, n in p.produced.items()}
        self._last = (p.elapsed_s, dict(p.produced))
        table = Table(title=f"event time {from_epoch_ms(p.sim_time_ms).isoformat()}  ·  {p.elapsed_s:.1f} s")
        for name in ("topic", "produced", "events/s"):
            table.add_column(name, justify="left" if name == "topic" else "right")
        for topic, produced in p.produced.items():
            table.add_row(topic, f"{produced:,}", f"{rates.get(topic, 0):,.0f}")
        total = sum(p.produced.values())
        table.add_row("total", f"{total:,}", f"{sum(rates.values()):,.0f}", style="bold")
        # Acknowledgements are known as a total while the run goes (the producer reports failures
        # only); the summary at the end has them per topic and category.
        in_flight = total - p.failed - p.acknowledged
        caption = f"acknowledged: {p.acknowledged:,}   in flight: {in_flight:,}   "
        caption += f"held (late/out-of-order/duplicates): {p.held:,}   delivery errors: {p.failed:,}"
        if p.last_error:
            caption += f"   last error: {p.last_error}"
        table.caption = caption
        self._live.update(table)


class PlainProgress:
    """One line every ``every_s`` seconds: event time, produced and acknowledged totals, the rate."""

    def __init__(self, console: Console, every_s: float = 10.0) -> None:
        self.console = console
        self.every_s = every_s
        self._next = time.monotonic()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every_s
        total = sum(p.produced.values())
        rate = total / p.elapsed_s if p.elapsed_s > 0 else 0.0
        self.console.out(
            f"[{p.elapsed_s:5.0f} s] event time {from_epoch_ms(p.sim_time_ms).isoformat()}: "
            f"{total:,} produced ({rate:,.0f}/s), {p.acknowledged:,} acknowledged, {p.failed:,} failed",
            highlight=False,
        )


def progress_view(console: Console) -> LiveProgress | PlainProgress:
    """The live table on a terminal, plain lines anywhere else."""
    return LiveProgress(console) if console.is_terminal else PlainProgress(console)


def print_summary(manifest: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    table = Table(title="simulation summary (acknowledged messages)")
    cols = (
        "topic",
        "acknowledged",
        "distinct ids",
        "duplicates",
        "late",
        "out of order",
        "malformed",
        "failed",
    )
    for name in cols:
        table.add_column(name, justify="left" if name == "topic" else "right")
    for topic, t in manifest["topics"].items():
        table.add_row(
            topic,
            *(
                f"{t[k]:,}"
                for k in (
                    "acknowledged",
                    "distinct_valid_ids",
                    "duplicates",
                    "late",
                    "out_of_order",
                    "malformed_total",
                    "failed",
                )
            ),
        )
    console.print(table)
    run = manifest["run"]
    total = manifest["totals"]["acknowledged"]
    rate = total / run["wall_seconds"] if run["wall_seconds"] else 0.0
    malformed = ", ".join(f"{k} {v}" for k, v in manifest["totals"]["malformed"].items())
    console.print(
        f"{total:,} messages in {run['wall_seconds']:.1f} s ({rate:,.0f}/s); malformed: {malformed}"
    )
    injected = manifest.get("anomalies") or []
    if injected:
        kinds: dict[str, int] = {}
        for record in injected:
            kinds[record["kind"]] = kinds.get(record["kind"], 0) + 1
        console.print("anomalies injected: " + ", ".join(f"{k} {n}" for k, n in kinds.items()))
    if not manifest["complete"]:
        console.print(
            f"[red]incomplete: {manifest['undelivered']} undelivered, last error {manifest['last_error']}"
        )
