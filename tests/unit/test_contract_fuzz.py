"""Property-based fuzz of the contract as the streaming job's judge applies it, on hostile messages.

Every generated message (``tests/hostile_messages.py``: wrong types, huge and non-finite numbers, deep
nesting, multi-MB payloads, invalid UTF-8, broken locations, missing and extra fields, another stream's
event on a topic, tombstones) goes through the judge's own Arrow function, the one ``mapInArrow`` runs
in the Python workers. Properties: it never raises; each message is valid (and ``parse_event`` agrees)
or rejected with a reason in the contract's ``"<kind>: <field> <detail>"`` form; a reject carries its
exact original bytes to the quarantine row, a valid message none.

How many batches hypothesis generates follows the test profile (``tests/sizes.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartcity.config import Settings, Stream
from smartcity.contract import VIOLATION_KINDS, ContractViolation, parse_event
from smartcity.stream.validate import _judge_batches, epoch_micros
from tests.hostile_messages import NOW, Hostile, hostile_messages, valid_events
from tests.sizes import SIZES

pytestmark = pytest.mark.unit

PROFILE = settings(
    max_examples=SIZES.fuzz_batches,
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TOPICS = Settings().topics.all()
MAX_FUTURE_S = 300.0


@functools.cache
def judge() -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The judge's Arrow function over every topic, built once when a test first runs (not at collection:
    building it imports what pyspark needs for the Arrow schema)."""
    return _judge_batches(
        {topic: stream for stream, topic in TOPICS.items()}, epoch_micros(NOW), MAX_FUTURE_S, None
    )


def kafka_batch(messages: list[Hostile]) -> pa.RecordBatch:
    """Messages as the Kafka source hands them to the judge's Python function."""
    n = len(messages)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([TOPICS[m.topic_stream] for m in messages], pa.string()),
            pa.array([0] * n, pa.int32()),
            pa.array(range(n), pa.int64()),
            pa.array([epoch_micros(NOW)] * n, pa.timestamp("us", tz="UTC")),
            pa.array([m.value for m in messages], pa.binary()),
        ],
        names=["topic", "kafka_partition", "kafka_offset", "kafka_timestamp", "_bytes"],
    )


def judge_all(messages: list[Hostile]) -> pa.RecordBatch:
    """The streaming judge's verdicts for ``messages`` (raises whatever the judge raises)."""
    (out,) = list(judge()(iter([kafka_batch(messages)])))
    return out


def check_verdicts(messages: list[Hostile], out: pa.RecordBatch) -> list[str | None]:
    """The fuzz's properties for one judged batch; returns each message's error (None when valid)."""
    assert out.num_rows == len(messages)
    errors = out.column("error").to_pylist()
    kept = out.column("_bytes").to_pylist()
    for message, error, original in zip(messages, errors, kept, strict=True):
        if error is None:
            assert original is None, "a valid message's bytes are not carried to the quarantine"
            assert message.value is not None
            parse_event(message.topic_stream, message.value, now=NOW)  # the contract agrees
        else:
            kind, sep, reason = error.partition(": ")
            assert kind in VIOLATION_KINDS and sep and reason.strip(), error
            assert original == message.value, "a quarantine row must keep the exact original bytes"
    return errors


@PROFILE
@given(st.lists(hostile_messages(), min_size=1, max_size=8))
def test_hostile_messages_never_crash_the_judge(messages: list[Hostile]) -> None:
    check_verdicts(messages, judge_all(messages))


@PROFILE
@given(st.sampled_from(list(Stream)).flatmap(lambda s: st.tuples(st.just(s), valid_events(s))))
def test_generated_valid_events_are_accepted(case: tuple[Stream, dict]) -> None:
    """The generator's valid half is valid: the fuzz is not rejecting everything by construction."""
    import json

    stream, event = case
    parse_event(stream, json.dumps(event).encode(), now=NOW)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json: $ is nested too deeply"),
        (b'{"id": ' + b"[" * 5000 + b"]" * 5000 + b"}", "invalid_json: $ is nested too deeply"),
        (
            b'{"id":"00000000-0000-0000-0000-000000000000","deviceId":"d","timestamp":"0001-01-01T00:00:00+23:59"}',
            "out_of_range: timestamp",
        ),
        (
            b'{"id":"00000000-0000-0000-0000-000000000000","deviceId":"d","timestamp":"9999-12-31T23:59:59-23:59"}',
            "out_of_range: timestamp",
        ),
        (
            b'{"id":"00000000-0000-0000-0000-000000000000","deviceId":"d","timestamp":"2025-06-01T11:00:00Z",'
            b'"location":[' + b"1" * 400 + b',0],"speed":1,"direction":"North","make":"a","model":"b",'
            b'"year":2000,"fuelType":"c"}',
            "out_of_range: location latitude is an integer too large",
        ),
    ],
)
def test_what_the_fuzz_found_is_quarantined(raw: bytes, reason: str) -> None:
    """Found by this fuzz: nesting deeper than Python's recursion limit, an offset that moves a
    timestamp outside the representable years and an integer coordinate beyond any float raised
    (RecursionError, OverflowError) and would have failed every replay of the micro-batch holding them."""
    stream = Stream.VEHICLE if b'"location"' in raw else Stream.GPS
    with pytest.raises(ContractViolation) as caught:
        parse_event(stream, raw, now=NOW)
    assert str(caught.value).startswith(reason), str(caught.value)
