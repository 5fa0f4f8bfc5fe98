"""One simulation run: world → faults → sink, paced by the clock, ending with a manifest.

The loop checks a ``stop`` event once per simulated second; the CLI sets it on Ctrl-C/SIGTERM and the
Lambda on its time budget. Stopping never interrupts a ``produce`` half-way, then the producer is
flushed, so the manifest (built from delivery reports) equals what the broker acknowledged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from smartcity.config import Stream
from smartcity.errors import UsageError
from smartcity.simulate.anomalies import AnomalyConfig, AnomalyInjector
from smartcity.simulate.clock import Mode, SimClock
from smartcity.simulate.encode import from_epoch_ms
from smartcity.simulate.faults import FaultConfig, FaultInjector
from smartcity.simulate.manifest import build_manifest, write_manifest
from smartcity.simulate.sinks import Counts
from smartcity.simulate.world import World, WorldParams


class Sink(Protocol):
    counts: Counts

    def send(self, stream: Stream, key: str, value: str, category: str) -> None: ...
    def poll(self) -> None: ...
    def acknowledged_total(self) -> int: ...
    def close(self, timeout_s: float = ...) -> int: ...
    def check_connection(self, timeout_s: float = ...) -> None: ...


@dataclass(frozen=True)
class RunConfig:
    """A run: the world, the anomalies, the faults, the clock and when to stop (event-time span and/or
    event count)."""

    world: WorldParams = field(default_factory=WorldParams)
    faults: FaultConfig = field(default_factory=FaultConfig)
    anomalies: AnomalyConfig = field(default_factory=AnomalyConfig)
    mode: Mode = "realtime"
    speed: float = 1.0
    start_ms: int = 0
    duration_s: float | None = None
    max_events: int | None = None
    manifest_path: Path | None = None

    def __post_init__(self) -> None:
        if self.duration_s is not None and self.duration_s <= 0:
            raise UsageError("--duration must be > 0")
        if self.max_events is not None and self.max_events <= 0:
            raise UsageError("--events must be > 0")
        if self.speed <= 0:
            raise UsageError("--speed must be > 0")

    def describe(self) -> dict[str, Any]:
        return {
            "scenario": self.world.scenario,
            "vehicles": self.world.vehicles,
            "seed": self.world.seed,
            "mode": self.mode,
            "speed": self.speed,
            "start": from_epoch_ms(self.start_ms).isoformat(),
            "duration_s": self.duration_s,
            "max_events": self.max_events,
            "faults": asdict(self.faults),
            "anomalies": asdict(self.anomalies),
        }


@dataclass
class Progress:
    """What the live display shows: counts so far and the event-time position."""

    elapsed_s: float
    sim_time_ms: int
    produced: dict[str, int]
    acknowledged: int
    failed: int
    held: int
    last_error: str | None


ProgressCallback = Callable[[Progress], None]


class Simulation:
    """Runs a :class:`World` into a sink. ``world`` may be a continued one (Lambda mode)."""

    PROGRESS_EVERY_S = 0.5

    def __init__(
        self, config: RunConfig, sink: Sink, world: World | None = None, faults: FaultInjector | None = None
    ) -> None:
        self.config = config
        self.sink = sink
        self.world = world or World.create(config.world, config.start_ms)
        self.faults = faults or FaultInjector(config.faults, sink.send)
        self.anomalies = AnomalyInjector(config.anomalies, self.faults.emit, self.world.params)
        self.emitted = 0

    def run(
        self,
        stop: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
        deadline: float | None = None,
        end_ms: int | None = None,
        flush_timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """Run until the span/event count/``end_ms``/``deadline`` (monotonic) is reached or ``stop`` is set.

        Returns the manifest (also written to ``config.manifest_path`` when set).
        """
        cfg = self.config
        stop = stop or threading.Event()
        world, faults, sink = self.world, self.faults, self.sink
        first_ms = world.time_ms
        if cfg.duration_s is not None:
            span_end = first_ms + int(cfg.duration_s * 1000)
            end_ms = span_end if end_ms is None else min(end_ms, span_end)
        clock = SimClock(cfg.mode, cfg.speed, first_ms, stop)
        started = time.monotonic()
        next_progress = started + self.PROGRESS_EVERY_S
        interrupted = False
        try:
            while True:
                if stop.is_set():
                    interrupted = True
                    break
                if end_ms is not None and world.time_ms >= end_ms:
                    break
                if cfg.max_events is not None and self.emitted >= cfg.max_events:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                clock.wait_until(world.time_ms)
                if stop.is_set():
                    interrupted = True
                    break
                faults.release(world.time_ms)
                self.emitted += world.step(self.anomalies.emit)
                now = time.monotonic()
                if now >= next_progress:
                    next_progress = now + self.PROGRESS_EVERY_S
                    sink.poll()
                    if on_progress:
                        on_progress(self._progress(now - started, faults.held))
            if not interrupted:
                faults.release_all()  # held late/out-of-order/duplicate messages go out before the end
        finally:
            undelivered = sink.close(flush_timeout_s)
            self.anomalies.finish()
            run = cfg.describe() | {
                "first_event_time": from_epoch_ms(first_ms).isoformat(),
                "end_event_time": from_epoch_ms(world.time_ms).isoformat(),
                "wall_seconds": round(time.monotonic() - started, 3),
                "finished_at": datetime.now(UTC).isoformat(),
                "held_unsent": faults.held,
            }
            manifest = build_manifest(sink.counts, run, interrupted=interrupted, undelivered=undelivered)
            manifest |= self.anomalies.manifest_section()
            if cfg.manifest_path is not None:
                write_manifest(cfg.manifest_path, manifest)
            if on_progress:
                on_progress(self._progress(time.monotonic() - started, faults.held))
        return manifest

    def _progress(self, elapsed: float, held: int) -> Progress:
        counts = self.sink.counts
        return Progress(
            elapsed_s=elapsed,
            sim_time_ms=self.world.time_ms,
            produced=counts.per_topic(0),
            acknowledged=self.sink.acknowledged_total(),
            failed=counts.total(2),
            held=held,
            last_error=counts.last_error,
        )
