"""KafkaSink's delivery accounting against librdkafka's built-in mock cluster and an unreachable broker.

The producer asks for error reports only, so "acknowledged" is inferred once the queue drains. These
tests pin the two ways that inference could go wrong: counting an undelivered message as acknowledged,
and leaving a message neither acknowledged nor failed when the flush deadline passes.
"""

from __future__ import annotations

import json

from smartcity.config import Settings, Stream
from smartcity.local.process import free_port
from smartcity.simulate.faults import CATEGORIES
from smartcity.simulate.sinks import KafkaSink, kafka_config

TOPICS = Settings(profile="local").topics.all()


def send_many(sink: KafkaSink, n: int) -> None:
    streams = list(Stream)
    for i in range(n):
        sink.send(streams[i % 5], f"dev-{i % 37}", json.dumps({"i": i}), CATEGORIES[i % len(CATEGORIES)])


def test_every_message_to_a_live_cluster_is_acknowledged_per_cell() -> None:
    sink = KafkaSink(kafka_config(Settings(profile="local"), **{"test.mock.num.brokers": 1}), TOPICS)
    send_many(sink, 3000)
    assert sink.close(30) == 0
    assert sink.counts.total(0) == sink.counts.total(1) == 3000
    assert sink.counts.total(2) == 0
    for produced, acked, failed in sink.counts.cells.values():
        assert acked == produced and failed == 0
    assert sink.acknowledged_total() == 3000


def test_messages_that_time_out_are_failed_not_acknowledged() -> None:
    dead = f"127.0.0.1:{free_port()}"
    sink = KafkaSink({"bootstrap.servers": dead, "message.timeout.ms": 300}, TOPICS)
    send_many(sink, 500)
    assert sink.close(20) == 0  # every message got its (error) report within the deadline
    assert sink.counts.total(0) == sink.counts.total(2) == 500
    assert sink.counts.total(1) == 0
    assert sink.counts.last_error


def test_messages_left_at_the_flush_deadline_are_purged_and_counted_failed() -> None:
    dead = f"127.0.0.1:{free_port()}"
    sink = KafkaSink({"bootstrap.servers": dead, "message.timeout.ms": 600_000}, TOPICS)
    send_many(sink, 500)
    assert sink.close(0.5) == 500  # still queued at the deadline
    assert sink.counts.total(2) == 500
    assert sink.counts.total(1) == 0
    assert sink.acknowledged_total() == 0
    assert "purge" in (sink.counts.last_error or "").lower()
