"""The streaming job's validation agrees with the contract's ``parse_event`` message by message.

The corpus covers every quarantine kind, every location format and timestamps with and without
offsets; for each message the Spark verdict (accepted, or the error text naming the field) must equal
``parse_event``'s, and accepted values must equal the contract's parsed values, after the round trip
through Arrow and Spark (types, time zones, nulls). Quarantined rows keep the original bytes as text.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartcity.config import Stream
from smartcity.contract import ContractViolation, message_fields, parse_event, snake_case
from smartcity.stream.step import StreamCounts, batch_tables, count_tables, judged_counts
from smartcity.stream.validate import judge, stream_frame, validate

pytestmark = pytest.mark.unit

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
KAFKA = T.StructType(
    [
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
        T.StructField("value", T.BinaryType()),
    ]
)


def _id(n: int) -> str:
    return str(uuid.UUID(int=n))


def vehicle(n: int, **changes: object) -> dict[str, object]:
    msg: dict[str, object] = {
        "id": _id(n),
        "deviceId": "veh-1",
        "timestamp": "2025-06-01T11:59:00+00:00",
        "location": [51.5, -0.12],
        "speed": 42.5,
        "direction": "North",
        "make": "BMW",
        "model": "C500",
        "year": 2020,
        "fuelType": "Hybrid",
    }
    for k, v in changes.items():
        if v is _DROP:
            msg.pop(k)
        else:
            msg[k] = v
    return msg


_DROP = object()

# (stream, raw bytes): the shapes producers send
CANONICAL: list[tuple[Stream, bytes]] = [
    (Stream.VEHICLE, json.dumps(vehicle(1)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(2, location="51.5,-0.12")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(3, location="(51.5, -0.12)")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(4, location={"lat": 51.5, "lon": -0.12})).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(5, location={"lon": -0.12, "lat": 51.5})).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(6, timestamp="2025-06-01T11:59:00Z")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(7, timestamp="2025-06-01T13:59:00.250+02:00")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(8, timestamp="2025-06-01T11:59:00")).encode()),  # no offset: UTC
    (Stream.VEHICLE, json.dumps(vehicle(9, timestamp="2025-06-01 11:59:00.123456")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(10, speed=0, location=[-90, 180])).encode()),
    (
        Stream.GPS,
        json.dumps(
            {
                "id": _id(11),
                "deviceId": "veh-1",
                "timestamp": "2025-06-01T11:59:01Z",
                "speed": 40.0,
                "direction": "East",
                "vehicleType": "taxi",
            }
        ).encode(),
    ),
    (
        Stream.TRAFFIC,
        json.dumps(
            {
                "id": _id(12),
                "deviceId": "veh-1",
                "cameraId": "cam-7",
                "location": "51.50,-0.10",
                "timestamp": "2025-06-01T11:58:00Z",
                "snapshot": "aGVsbG8=",
            }
        ).encode(),
    ),
    (
        Stream.WEATHER,
        json.dumps(
            {
                "id": _id(13),
                "deviceId": "st-1",
                "location": [51.5, -0.1],
                "timestamp": "2025-06-01T11:55:00Z",
                "temperature": -3.5,
                "weatherCondition": "Rain",
                "precipitation": 2,
                "windSpeed": 10,
                "humidity": 80,
                "airQualityIndex": 42,
            }
        ).encode(),
    ),
    (
        Stream.EMERGENCY,
        json.dumps(
            {
                "id": _id(14),
                "deviceId": "dev-9",
                "incidentId": "inc-1",
                "type": "Fire",
                "timestamp": "2025-06-01T11:50:00Z",
                "location": {"lat": 51.49, "lon": -0.11},
                "status": "Active",
                "description": "smoke seen",
            }
        ).encode(),
    ),
]

ODD: list[tuple[Stream, bytes]] = [
    (Stream.VEHICLE, b"{not json"),
    (Stream.VEHICLE, b""),
    (Stream.VEHICLE, b"[1, 2]"),
    (Stream.VEHICLE, b"42"),
    (Stream.VEHICLE, b'{"id": "x"} trailing'),
    (Stream.VEHICLE, b"\xff\xfe{}"),
    (Stream.VEHICLE, json.dumps(vehicle(20, speed=_DROP)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(21, make=None)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(22, speed="42.5")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(23, make=5)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(24, make=True)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(25, year=2020.0)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(26, year="2020")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(27, speed=True)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(28, speed=-1)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(29, speed=401)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(30, year=1899)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(31, location=[91, 0])).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(32, location=[0, -181])).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(33, location="91,0")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(34, location=[1, 2, 3])).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(35, location=["1", "2"])).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(36, location={"lat": 1})).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(37, location="1;2")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(38, location="(1,2")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(39, location=5)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(40, location="[51.5,-0.12]")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(41, location={"lat": 51.5, "lon": -0.12, "alt": 3})).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(42, location="\u200951.5,-0.12")).encode()),  # odd but valid
    (Stream.VEHICLE, json.dumps(vehicle(43, timestamp="2025-06-01T12:06:00Z")).encode()),  # future
    (Stream.VEHICLE, json.dumps(vehicle(44, timestamp="2025-02-30T00:00:00Z")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(45, timestamp="yesterday")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(46, timestamp=1717243140)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(47, timestamp="2025-06-01T11:59:00,5")).encode()),  # valid
    (Stream.VEHICLE, json.dumps(vehicle(48, direction="Up")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(49, id="not-a-uuid")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(50, id=_id(50) + "\n")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(51, make="")).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(52, make="x" * 65)).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(53, make='Citro\u00ebn "DS"')).encode()),  # escapes: valid
    (Stream.VEHICLE, json.dumps(vehicle(54, speed=float("nan"))).encode()),
    (Stream.VEHICLE, json.dumps(vehicle(55, extra={"make": "x"})).encode()),  # unknown field: valid
    (Stream.VEHICLE, json.dumps(vehicle(56, direction=7)).encode()),
    (
        Stream.WEATHER,
        json.dumps(
            {
                "id": _id(57),
                "deviceId": "st-1",
                "location": [51.5, -0.1],
                "timestamp": "2025-06-01T11:55:00Z",
                "temperature": 61,
                "weatherCondition": "Rain",
                "precipitation": 2,
                "windSpeed": 10,
                "humidity": 80,
                "airQualityIndex": 42,
            }
        ).encode(),
    ),
    (
        Stream.EMERGENCY,
        json.dumps(
            {
                "id": _id(58),
                "deviceId": "dev-9",
                "incidentId": "inc-1",
                "type": "Fire",
                "timestamp": "2025-06-01T11:50:00Z",
                "location": [51.49, -0.11],
                "status": "Open",
                "description": "x",
            }
        ).encode(),
    ),
    (
        Stream.GPS,
        json.dumps(
            {
                "id": _id(59),
                "deviceId": "veh-1",
                "timestamp": "2025-06-01T11:59:01Z",
                "speed": 40.0,
                "direction": "East",
            }
        ).encode(),
    ),
]


def _expected(stream: Stream, raw: bytes) -> dict[str, object]:
    """The contract's verdict in lake columns, computed here independently of the job's code."""
    try:
        event = parse_event(stream, raw, now=NOW)
    except ContractViolation as exc:
        return {"error": str(exc)}
    row: dict[str, object] = {"error": None}
    for name, ftype, _ in message_fields(stream):
        value = getattr(event, name)
        if ftype == "location":
            row["latitude"], row["longitude"] = value if value is not None else (None, None)
        elif ftype == "timestamp":
            row["event_time"] = value
        else:
            row[snake_case(name)] = value
    return row


TOPICS = {f"t_{s.value}": s for s in Stream}


def _kafka_rows(spark, corpus):
    rows = [(f"t_{s.value}", 0, i, NOW.replace(tzinfo=None), raw) for i, (s, raw) in enumerate(corpus)]
    return spark.createDataFrame(rows, KAFKA)


def _run(spark, corpus):
    """The job's path: one pass judges every topic's messages, then each stream's frame is split off."""
    judged = judge(_kafka_rows(spark, corpus), TOPICS, ingest_time=NOW, max_future_s=300.0)
    out = {}
    for topic, stream in TOPICS.items():
        v = stream_frame(judged.where(F.col("topic") == topic), stream, cell_size_deg=0.05)
        for r in v.frame.collect():
            out[r["kafka_offset"]] = r.asDict()
    return out


def _compare(spark, corpus):
    got = _run(spark, corpus)
    assert len(got) == len(corpus), "a message was dropped"
    for i, (stream, raw) in enumerate(corpus):
        expected = _expected(stream, raw)
        row = got[i]
        assert row["error"] == expected["error"], (raw, row["error"], expected["error"])
        if expected["error"] is None:
            for key, value in expected.items():
                if key == "event_time":
                    assert row[key].replace(tzinfo=UTC) == value.astimezone(UTC).replace(tzinfo=UTC) or (
                        row[key].astimezone(UTC) == value.astimezone(UTC)
                    ), (raw, key)
                elif key != "error":
                    assert row[key] == value, (raw, key, row[key], value)
        else:
            # The reason names the field and the quarantine row keeps the original text.
            assert expected["error"].split(":")[0] in {
                "invalid_json",
                "missing_field",
                "wrong_type",
                "out_of_range",
                "future_timestamp",
                "invalid_value",
            }
    return got


def test_canonical_messages_are_valid_and_equal_to_the_contract(spark):
    got = _compare(spark, CANONICAL)
    assert all(r["error"] is None for r in got.values())
    lat_lon = {(r["latitude"], r["longitude"]) for r in got.values() if r.get("latitude") is not None}
    assert (51.5, -0.12) in lat_lon and (-90.0, 180.0) in lat_lon


def test_odd_and_bad_messages_get_the_contracts_verdict(spark):
    got = _compare(spark, ODD)
    kinds = {str(r["error"]).split(":")[0] for r in got.values() if r["error"]}
    assert kinds == {
        "invalid_json",
        "missing_field",
        "wrong_type",
        "out_of_range",
        "future_timestamp",
        "invalid_value",
    }
    # Quarantined rows keep the message text, valid odd shapes are accepted with the contract's values.
    assert sum(1 for r in got.values() if r["error"] is None) >= 4


def test_quarantine_keeps_the_original_bytes_and_tombstones(spark):
    """A reject's ``raw_value`` is its bytes as text (invalid UTF-8 included); a null value is a reject."""
    corpus = [(Stream.VEHICLE, b"{not json"), (Stream.VEHICLE, b"\xff\xfe{}"), (Stream.GPS, None)]
    got = _run(spark, corpus)
    assert got[0]["raw_value"] == "{not json"
    assert got[1]["raw_value"] == "\ufffd\ufffd{}"
    assert got[1]["error"].startswith("invalid_json: $")
    assert got[2]["error"] == "invalid_json: $ message has no value (Kafka tombstone)"
    assert got[2]["raw_value"] is None
    valid = _run(spark, [(Stream.VEHICLE, json.dumps(vehicle(1)).encode())])
    assert valid[0]["error"] is None and valid[0]["raw_value"] is None  # raw tables do not carry it


def test_cell_and_partitions(spark):
    got = _run(
        spark, [(Stream.VEHICLE, json.dumps(vehicle(1, timestamp="2025-06-01T01:30:00+02:00")).encode())]
    )
    row = got[0]
    assert row["cell_id"] == "1030:-3"  # floor(51.5/0.05)=1030 (IEEE: 1030.0000000000002), floor(-2.4)=-3
    assert (row["dt"], row["hour"]) == ("2025-05-31", "23")
    # The micro-batch's ingest time, exactly (collected as a naive local datetime; the session is UTC).
    assert row["ingest_time"].astimezone(UTC) == NOW


def test_one_topic_validated_alone_equals_the_one_pass_over_all_topics(spark):
    """``validate`` (one stream's rows) and the job's one pass give the same rows, message by message."""
    corpus = CANONICAL + ODD
    together = _run(spark, corpus)
    df = _kafka_rows(spark, corpus)
    alone = {}
    for topic, stream in TOPICS.items():
        v = validate(
            df.where(F.col("topic") == topic), stream, ingest_time=NOW, max_future_s=300.0, cell_size_deg=0.05
        )
        alone.update({r["kafka_offset"]: r.asDict() for r in v.frame.collect()})
    assert alone == together and len(together) == len(corpus)


def test_the_jobs_one_count_agrees_with_the_contract_and_the_stream_frames(spark):
    """Judged against a watermark inside the corpus' event times, every valid message's ``late`` flag is
    ``event_time < watermark`` (rejects are never late), and the counts the job's raw and quarantine
    writes observe give messages and rejects per topic, and per stream the valid and late messages and
    the event-time range, as the contract says."""
    corpus = CANONICAL + ODD
    verdicts = [(stream, _expected(stream, raw)) for stream, raw in corpus]
    times = sorted(v["event_time"].astimezone(UTC) for _, v in verdicts if v["error"] is None)
    watermark = times[len(times) // 2]
    expected: dict[Stream, StreamCounts] = {}
    for stream, v in verdicts:
        if v["error"] is None:
            t = v["event_time"].astimezone(UTC)
            c = expected.get(stream, StreamCounts(oldest=t, newest=t))
            expected[stream] = StreamCounts(
                c.valid + 1, c.late + (t < watermark), min(c.oldest, t), max(c.newest, t)
            )
    topic_of = {stream: topic for topic, stream in TOPICS.items()}

    judged = judge(
        _kafka_rows(spark, corpus), TOPICS, ingest_time=NOW, max_future_s=300.0, watermark=watermark
    )
    topics = {stream: topic for topic, stream in TOPICS.items()}
    batch = {
        stream: stream_frame(judged.where(F.col("topic") == topic), stream, cell_size_deg=0.05)
        for topic, stream in TOPICS.items()
    }
    got = judged_counts(count_tables(batch_tables(batch, topics)), topics)

    assert got.streams == expected
    assert 0 < sum(c.late for c in expected.values()) < sum(c.valid for c in expected.values())
    assert got.rows_in == {topic_of[s]: sum(1 for t, _ in corpus if t is s) for s in {t for t, _ in corpus}}
    rejects: dict[str, int] = {}
    for stream, v in verdicts:
        if v["error"] is not None:
            rejects[topic_of[stream]] = rejects.get(topic_of[stream], 0) + 1
    assert got.quarantined == rejects
    flags = {r["kafka_offset"]: r["late"] for r in judged.select("kafka_offset", "late").collect()}
    for i, (_, v) in enumerate(verdicts):
        late = v["error"] is None and v["event_time"].astimezone(UTC) < watermark
        assert flags[i] is late, (i, v)
