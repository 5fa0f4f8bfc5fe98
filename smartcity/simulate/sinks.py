"""Where simulated messages go: Kafka (local broker or MSK with IAM), or memory for tests and dry runs.

Counting is exact by construction: a message is counted as produced only once ``produce`` accepted
it, as failed only in its (error) delivery report, and as acknowledged once librdkafka holds neither
the message nor an unserved report for it. The producer asks for error reports only
(``delivery.report.only.error``): a success report per message costs a Python call and a ``Message``
object, a measurable share of the simulator's throughput (docs/simulator.md, Producer). So a
message is settled as acknowledged when the producer's queue has drained (:meth:`KafkaSink.close`
flushes, then purges what is left so that it is reported as failed, never left unknown). Each
(topic, category) pair has its own prebuilt error callback closing over its counter cell, so the hot
path allocates nothing per message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from smartcity.config import Settings, Stream
from smartcity.errors import StackError
from smartcity.simulate.faults import CATEGORIES

# The logger the Kafka clients (librdkafka) log through: the run log routes it to a file, not stderr.
KAFKA_CLIENT_LOGGER = "smartcity.kafka.client"

# Producer tuning (docs/simulator.md, Producer): lz4 for the least CPU per byte; linger lets batches
# fill; the queue is large enough that produce() rarely blocks.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 25,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "client.id": "smartcity-simulator",
}


class MskIamToken:
    """``oauth_cb`` for SASL/OAUTHBEARER on MSK: a SigV4-signed token from the AWS credential chain.

    ``generate_auth_token`` returns the expiry in epoch *milliseconds*; librdkafka wants seconds (the
    library's own confluent-kafka example gets this wrong). librdkafka calls back again at 80 % of the
    token's lifetime, so the token is refreshed before it lapses.
    """

    def __init__(self, region: str) -> None:
        self.region = region

    def __call__(self, _oauth_config: str | None) -> tuple[str, float]:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(self.region)
        return token, expiry_ms / 1000.0


def kafka_config(settings: Settings, bootstrap: str | None = None, **overrides: Any) -> dict[str, Any]:
    """librdkafka configuration for this deployment: PLAINTEXT locally, IAM over TLS on MSK.

    librdkafka's own log lines (retries, "Coordinator load in progress", ...) go to Python logging, i.e.
    to the run's log file, never straight to the terminal.
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap or settings.kafka.bootstrap_servers,
        "logger": logging.getLogger(KAFKA_CLIENT_LOGGER),
    }
    if settings.kafka.auth == "msk_iam":
        conf.update(
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "OAUTHBEARER",
                "oauth_cb": MskIamToken(settings.kafka.aws_region or settings.aws_region),
            }
        )
    conf.update(overrides)
    return conf


class Counts:
    """``[produced, acknowledged, failed]`` per (topic, category)."""

    def __init__(self, topics: dict[Stream, str]) -> None:
        self.topics = topics
        self.cells: dict[tuple[str, str], list[int]] = {
            (topic, cat): [0, 0, 0] for topic in topics.values() for cat in CATEGORIES
        }
        self.last_error: str | None = None

    def total(self, index: int) -> int:
        return sum(cell[index] for cell in self.cells.values())

    def per_topic(self, index: int) -> dict[str, int]:
        out = dict.fromkeys(self.topics.values(), 0)
        for (topic, _), cell in self.cells.items():
            out[topic] += cell[index]
        return out


class KafkaSink:
    """Sends to Kafka keyed by ``deviceId``; call :meth:`close` (flush) before reading final counts."""

    POLL_EVERY = 2000

    def __init__(self, config: dict[str, Any], topics: dict[Stream, str]) -> None:
        from confluent_kafka import Producer

        self.counts = Counts(topics)
        self._topic = topics
        self._producer = Producer({**PRODUCER_DEFAULTS, **config, "delivery.report.only.error": True})
        self._produce = self._producer.produce
        self._since_poll = 0
        self._callbacks = {key: self._callback(cell) for key, cell in self.counts.cells.items()}
        self._by_stream = {
            (stream, cat): (topic, self.counts.cells[(topic, cat)], self._callbacks[(topic, cat)])
            for stream, topic in topics.items()
            for cat in CATEGORIES
        }

    def _callback(self, cell: list[int]) -> Callable[[Any, Any], None]:
        counts = self.counts

        def on_delivery(err: Any, _msg: Any) -> None:
            # Only failures are reported (``delivery.report.only.error``); the guard keeps the count
            # right should a success report ever arrive.
            if err is not None:
                cell[2] += 1
                counts.last_error = str(err)

        return on_delivery

    def send(self, stream: Stream, key: str, value: str, category: str) -> None:
        topic, cell, callback = self._by_stream[(stream, category)]
        while True:
            try:
                self._produce(topic, value, key, on_delivery=callback)
                break
            except BufferError:
                self._producer.poll(0.05)  # queue full: serve delivery reports, then retry
        cell[0] += 1
        self._since_poll += 1
        if self._since_poll >= self.POLL_EVERY:
            self._since_poll = 0
            self._producer.poll(0)

    def poll(self) -> None:
        self._producer.poll(0)
        if len(self._producer) == 0:
            self._settle()

    def acknowledged_total(self) -> int:
        """Messages the broker has acknowledged so far: handed over, not failed, no longer queued."""
        return self.counts.total(0) - self.counts.total(2) - len(self._producer)

    def _settle(self) -> None:
        """With nothing queued or in flight, every message without an error report was acknowledged."""
        for cell in self.counts.cells.values():
            cell[1] = cell[0] - cell[2]

    def close(self, timeout_s: float = 60.0) -> int:
        """Flush; returns how many messages were still undelivered at the deadline (0 on success).

        Those are purged, which makes librdkafka report each as failed (``_PURGE_QUEUE`` /
        ``_PURGE_INFLIGHT``), so that the counts settle: acknowledged + failed = produced per cell.
        """
        deadline = time.monotonic() + timeout_s
        remaining = self._producer.flush(timeout_s)
        while remaining and time.monotonic() < deadline:
            remaining = self._producer.flush(max(0.1, deadline - time.monotonic()))
        if remaining:
            self._producer.purge(in_queue=True, in_flight=True)
            while len(self._producer):
                self._producer.poll(0.1)  # serves the purged messages' error reports
        self._settle()
        return int(remaining)

    def check_connection(self, timeout_s: float = 10.0) -> None:
        """Fail fast with one line when the broker is unreachable (instead of retrying forever)."""
        from confluent_kafka import KafkaException

        try:
            # Before confluent-kafka 2.13 (the Lambda's 2.4.0) the OAUTHBEARER token callback runs only
            # inside poll()/flush(): poll once so an MSK IAM token exists before the metadata request.
            self._producer.poll(0)
            self._producer.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            raise StackError(f"cannot reach Kafka: {exc.args[0]}") from None


class MemorySink:
    """Keeps ``(topic, key, value, category)`` in order; every message is acknowledged at once."""

    def __init__(self, topics: dict[Stream, str]) -> None:
        self.counts = Counts(topics)
        self._topic = topics
        self.messages: list[tuple[str, str, str, str]] = []

    def send(self, stream: Stream, key: str, value: str, category: str) -> None:
        topic = self._topic[stream]
        self.messages.append((topic, key, value, category))
        cell = self.counts.cells[(topic, category)]
        cell[0] += 1
        cell[1] += 1

    def poll(self) -> None:
        return None

    def acknowledged_total(self) -> int:
        return self.counts.total(1)

    def close(self, timeout_s: float = 0.0) -> int:
        return 0

    def check_connection(self, timeout_s: float = 0.0) -> None:
        return None
