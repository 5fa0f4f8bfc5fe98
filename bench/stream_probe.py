"""Helpers the streaming benchmarks share (bench-private): the simulator's rate, a Kafka sink that records
when each vehicle message was acknowledged, the lake poller that records when each file became visible,
and the latency between the two; percentile and formatting helpers.
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from confluent_kafka import Producer

from smartcity.config import Settings, Stream
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.sinks import PRODUCER_DEFAULTS, Counts, MemorySink, kafka_config
from smartcity.simulate.world import WorldParams

RAW_VEHICLE, VEHICLE_ENRICHED = "raw/vehicle", "enriched/vehicle_enriched"


def events_per_vehicle_second(settings: Settings) -> float:
    """Messages per vehicle per simulated second of the city (GPS, vehicle, cameras, weather, incidents),
    from a short run into memory: turns ``--rate`` into a fleet size."""
    sink = MemorySink(settings.topics.all())
    sink.messages = _Discard()  # type: ignore[assignment]  # count only
    vehicles, span = 500, 60.0
    manifest = Simulation(
        RunConfig(
            world=WorldParams(vehicles=vehicles, seed=1),
            mode="backfill",
            start_ms=epoch_ms(datetime(2024, 1, 1, tzinfo=UTC)),
            duration_s=span,
        ),
        sink,
    ).run()
    return int(manifest["totals"]["acknowledged"]) / (vehicles * span)


class _Discard(list):  # type: ignore[type-arg]
    def append(self, _item: object) -> None:
        return None


class TrackedSink:
    """A Kafka sink for the simulator that records when each vehicle message was acknowledged.

    The simulator's own ``KafkaSink`` asks for error reports only (cheaper); latency needs the success
    reports. One background thread serves them (the only thread that polls until ``close``, so counters
    are never updated from two threads), so an acknowledgement is timed within ~50 ms even while the
    paced simulator sleeps between seconds. Messages are tracked while ``tracking`` is set.
    """

    def __init__(self, settings: Settings) -> None:
        self.counts = Counts(settings.topics.all())
        self._topics = settings.topics.all()
        self._producer = Producer({**PRODUCER_DEFAULTS, **kafka_config(settings)})
        self.tracking = True
        # raw/vehicle rows are matched by (partition, offset), vehicle_enriched rows by event id.
        self.acked_offsets: dict[tuple[int, int], float] = {}
        self.acked_ids: dict[str, float] = {}
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._serve, name="bench-delivery", daemon=True)
        self._poller.start()

    def _serve(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.05)

    def send(self, stream: Stream, key: str, value: str, category: str) -> None:
        topic = self._topics[stream]
        cell = self.counts.cells[(topic, category)]
        eid = None
        if self.tracking and stream is Stream.VEHICLE and not category.startswith("malformed"):
            eid = json.loads(value)["id"]
        counts, offsets, ids = self.counts, self.acked_offsets, self.acked_ids

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                cell[2] += 1
                counts.last_error = str(err)
                return
            cell[1] += 1
            if eid is not None:
                t = time.time()
                offsets[(msg.partition(), msg.offset())] = t
                ids.setdefault(eid, t)  # a duplicate's row is the first copy's

        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                time.sleep(0.01)  # queue full: the delivery thread drains it
        cell[0] += 1

    def poll(self) -> None:
        return None  # the delivery thread polls

    def acknowledged_total(self) -> int:
        return self.counts.total(1)

    def close(self, timeout_s: float = 60.0) -> int:
        """Stop the delivery thread, flush; purge what is left (reported failed) and return its count."""
        self._closing.set()
        self._poller.join()
        remaining = self._producer.flush(timeout_s)
        if remaining:
            self._producer.purge(in_queue=True, in_flight=True)
            while len(self._producer):
                self._producer.poll(0.1)
        return int(remaining)

    def check_connection(self, timeout_s: float = 10.0) -> None:
        self._producer.list_topics(timeout=timeout_s)

    def forget_before(self, t: float) -> int:
        """Drop acknowledgements older than ``t`` (a long run's rows were matched long ago); returns how
        many. Safe beside the delivery thread: a dict's copy and pop are atomic under the GIL."""
        dropped = 0
        for table in (self.acked_offsets, self.acked_ids):
            for key, acked in table.copy().items():  # type: ignore[attr-defined]
                if acked < t:
                    table.pop(key, None)  # type: ignore[attr-defined]
                    dropped += 1
        return dropped


class FileLatency:
    """Polls raw/vehicle and vehicle_enriched of a local lake and records when each Parquet file first became
    visible; the latency of a row is that instant minus its message's acknowledgement (``TrackedSink``)."""

    def __init__(self, lake: Path, interval_s: float = 0.25) -> None:
        self.lake = lake
        self.interval_s = interval_s
        self.before = set(self._files())
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-files", daemon=True)

    def _files(self) -> list[str]:
        return [
            str(f)
            for table in (RAW_VEHICLE, VEHICLE_ENRICHED)
            for f in (self.lake / table).rglob("*.parquet")
        ]

    def _poll(self) -> None:
        while not self._stop.is_set():
            for f in self._files():
                self.seen.setdefault(f, time.time())
            time.sleep(self.interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def latencies(
        self, sink: TrackedSink, since: float = 0.0, until: float = math.inf
    ) -> tuple[list[float], list[float]]:
        """Seconds from acknowledgement to visibility of the tracked rows of the files that became visible
        in [since, until): (raw/vehicle rows matched by Kafka partition and offset, vehicle_enriched rows by
        event id)."""
        raw: list[float] = []
        enriched: list[float] = []
        for path, t_seen in list(self.seen.items()):
            if path in self.before or not since <= t_seen < until:
                continue
            try:
                if f"/{RAW_VEHICLE}/" in path:
                    cols = pq.read_table(path, columns=["kafka_partition", "kafka_offset"]).to_pydict()
                    for part, off in zip(cols["kafka_partition"], cols["kafka_offset"], strict=True):
                        if (t_ack := sink.acked_offsets.get((part, off))) is not None:
                            raw.append(t_seen - t_ack)
                else:
                    for eid in pq.read_table(path, columns=["event_id"]).column("event_id").to_pylist():
                        if (t_ack := sink.acked_ids.get(eid)) is not None:
                            enriched.append(t_seen - t_ack)
            except FileNotFoundError:
                continue  # compacted away since it was seen
        return raw, enriched


def pctl(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def fmt(value: float | None, unit: str = " s", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def round_or_none(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)
