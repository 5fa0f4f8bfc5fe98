"""Hand-built events at every anomaly rule's edges, run through the steps exactly as the job plans them.

Each scenario runs ``plan_step`` step by step (state kept in memory) and collects ``StepPlan.anomalies``,
so a rule is tested with its finality (when the watermark makes the judgement) as well as its limit.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import types as T

from smartcity.anomaly.rules import (
    ANOMALY_COLUMNS,
    DEVICE_SILENT,
    GPS_JUMP,
    IMPOSSIBLE_SPEED,
    MAX_PLAUSIBLE_SPEED_KMH,
    MAX_TEMPERATURE_DEVIATION_C,
    MIN_NEIGHBOUR_REPORTS,
    SILENCE_S,
    STUCK_REPORTS,
    STUCK_SENSOR,
    WEATHER_OUTLIER,
)
from smartcity.config import Settings, Stream, StreamSettings
from smartcity.contract import raw_columns, spark_schema
from smartcity.earth import EARTH_RADIUS_KM
from smartcity.stream.state_version import WatermarkClock
from smartcity.stream.step import (
    STATE_KINDS,
    JudgedCounts,
    StreamCounts,
    as_utc,
    kind_rows,
    plan_step,
    state_schema,
)
from smartcity.stream.validate import Validated

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
INGEST = T0 + timedelta(days=1)
CFG = StreamSettings(watermark_delay_s=20.0, max_clock_lead_s=5.0)
TOPICS = Settings(profile="local").topics.all()
M_PER_DEG_LAT = EARTH_RADIUS_KM * 1000 * math.pi / 180
_ids = iter(range(1, 10**6))
_offsets = iter(range(10**6))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _prov() -> dict[str, object]:
    return {"kafka_partition": 0, "kafka_offset": next(_offsets), "ingest_time": T0, "dt": "x", "hour": "y"}


def vehicle(dev: str, t: float, *, north_m: float = 0.0, speed: float = 50.0, n: int | None = None) -> dict:
    lat, lon = 51.5 + north_m / M_PER_DEG_LAT, -0.12
    return {
        "id": str(uuid.UUID(int=n if n is not None else next(_ids))),
        "device_id": dev,
        "event_time": at(t),
        "latitude": lat,
        "longitude": lon,
        "cell_id": "1:1",
        "speed": speed,
        "direction": "North",
        "make": "BMW",
        "model": "X",
        "year": 2020,
        "fuel_type": "Petrol",
        **_prov(),
    }


def gps(dev: str, t: float, speed: float) -> dict:
    return {
        "id": str(uuid.UUID(int=next(_ids))),
        "device_id": dev,
        "event_time": at(t),
        "speed": speed,
        "direction": "East",
        "vehicle_type": "taxi",
        **_prov(),
    }


def weather(station: str, t: float, temp: float = 10.0, wind: float = 5.0, n: int | None = None) -> dict:
    return {
        "id": str(uuid.UUID(int=n if n is not None else next(_ids))),
        "device_id": station,
        "event_time": at(t),
        "latitude": 51.5,
        "longitude": -0.12,
        "cell_id": "1:1",
        "temperature": float(temp),
        "weather_condition": "Rain",
        "precipitation": 1.0,
        "wind_speed": float(wind),
        "humidity": 70.0,
        "air_quality_index": 30.0,
        **_prov(),
    }


def _frames(spark, rows: list[dict], streams: dict[int, Stream], watermark: datetime | None):
    out = {}
    for s in Stream:
        full = T.StructType(
            [
                *spark_schema(raw_columns(s)).fields,
                *[T.StructField(n, T.StringType()) for n in ("dt", "hour", "topic")],
                T.StructField("kafka_timestamp", T.TimestampType()),
                T.StructField("raw_value", T.StringType()),
                T.StructField("error", T.StringType()),
                T.StructField("late", T.BooleanType()),
            ]
        )
        data = []
        for r in rows:
            if streams[id(r)] is not s:
                continue
            values = {**r, "topic": TOPICS[s], "late": watermark is not None and r["event_time"] < watermark}
            data.append(tuple(values.get(f.name) for f in full.fields))
        out[s] = Validated(s, spark.createDataFrame(data, full))
    return out


def _counts(batch_rows: dict[Stream, list[dict]], watermark: datetime | None) -> JudgedCounts:
    """What the raw writes would observe, from the rows themselves (no Spark job)."""
    streams = {}
    for s, rs in batch_rows.items():
        times = [r["event_time"] for r in rs]
        late = sum(watermark is not None and t < watermark for t in times)
        streams[s] = StreamCounts(valid=len(rs), late=late, oldest=min(times), newest=max(times))
    return JudgedCounts({TOPICS[s]: len(rs) for s, rs in batch_rows.items()}, {}, streams)


def run(spark, batches: list[dict[Stream, list[dict]]], *, flush: bool = True) -> list[list[dict]]:
    """The anomalies each step raises (the last step is the drain flush when ``flush``)."""
    schema = state_schema({s: spark_schema(raw_columns(s)) for s in Stream})
    rows = spark.createDataFrame([], schema)
    clock = WatermarkClock()
    out = []
    for batch_rows, is_flush in [(b, False) for b in batches] + ([({}, True)] if flush else []):
        state = {k: kind_rows(rows, k) for k in STATE_KINDS}
        batch, counts = None, JudgedCounts()
        if not is_flush:
            streams = {id(r): s for s, rs in batch_rows.items() for r in rs}
            batch = _frames(spark, [r for rs in batch_rows.values() for r in rs], streams, clock.watermark)
            counts = _counts(batch_rows, clock.watermark)
        plan = plan_step(state, clock, batch, counts, CFG, ingest_time=INGEST, schema=schema)
        segments = (plan.segments if plan.segments is not None else rows.limit(0)).localCheckpoint()
        flags = plan.anomalies(kind_rows(segments, "vehicle"))
        assert flags.columns == [*ANOMALY_COLUMNS, "dt", "hour"]
        out.append([r.asDict() for r in flags.collect()])
        rows = rows.unionByName(segments).localCheckpoint()
        clock = plan.clock
    return out


def flat(steps: list[list[dict]]) -> list[dict]:
    return [r for step in steps for r in step]


def secs(row: dict) -> float:
    """A flag's event time as seconds after T0 (PySpark collects naive local datetimes)."""
    return (as_utc(row["event_time"]) - T0).total_seconds()


def flagged(steps: list[list[dict]], rule: str) -> list[str]:
    """The devices flagged by ``rule``, sorted (repeated when flagged more than once)."""
    return sorted(r["device_id"] for r in flat(steps) if r["rule"] == rule)


def evidence(steps: list[list[dict]], rule: str, device: str) -> dict:
    (row,) = [r for r in flat(steps) if r["rule"] == rule and r["device_id"] == device]
    return json.loads(row["evidence"])


LIMIT = MAX_PLAUSIBLE_SPEED_KMH
NEAR = 10.5  # the median of the neighbours in the outlier minute
REPEATED_GPS = gps("g-dup", 650, 400.0)  # sent in both steps (same id): flagged once


@pytest.fixture(scope="module")
def edges(spark):
    """Two steps and the drain flush; each device or station tests one edge."""
    stuck_short = [weather("short", 60 * k) for k in range(STUCK_REPORTS - 1)] + [
        weather("short", 60 * (STUCK_REPORTS - 1), temp=11.0)
    ]
    step1 = {
        Stream.VEHICLE: [
            vehicle("spd-at", 0, speed=LIMIT),
            vehicle("spd-over", 0, speed=LIMIT + 0.1),
            # 10 s apart: 250 km/h covers 694.4 m.
            vehicle("j-under", 0),
            vehicle("j-under", 10, north_m=690),
            vehicle("j-over", 0),
            vehicle("j-over", 10, north_m=700),
            vehicle("j-over", 20, north_m=750),
            vehicle("noise", 0),
            vehicle("noise", 1, north_m=499),  # 1,796 km/h, but closer than MIN_JUMP_DISTANCE_M
            vehicle("spike", 0),
            vehicle("spike", 2, north_m=5000),  # one bad fix ...
            vehicle("spike", 4, north_m=20),  # ... and back: one jump, not two
            vehicle("spike", 6, north_m=40),
            vehicle("s-ok", 0),
            vehicle("s-ok", SILENCE_S),  # exactly SILENCE_S later: not silent
            vehicle("s-ok", 2 * SILENCE_S),
            vehicle("s-gap", 0),
            vehicle("s-gap", SILENCE_S + 0.5),  # silent from t = 0
            vehicle("s-gap", 2 * SILENCE_S),
            vehicle("s-gone", 0),  # never heard of again
        ],
        Stream.GPS: [gps("g-at", 1, LIMIT), gps("g-over", 1, LIMIT + 0.1), REPEATED_GPS],
        Stream.WEATHER: [
            *stuck_short,
            *[weather("exact", 60 * k + 1) for k in range(STUCK_REPORTS + 2)],  # one flag for the run
            *[weather("noisy", 60 * k + 2, wind=5.0 + k / 10) for k in range(STUCK_REPORTS + 2)],
            # Minute [540, 600): five neighbours at NEAR (the median of the others for "at" and "over").
            *[weather(f"n{k}", 545 + k, temp=NEAR) for k in range(5)],
            weather("at", 550, temp=NEAR + MAX_TEMPERATURE_DEVIATION_C),
            weather("over", 551, temp=NEAR - MAX_TEMPERATURE_DEVIATION_C - 0.1),
            # Minute [600, 660): three reports now, the outlier in step 2, before the minute closes.
            *[weather(f"h{k}", 600 + k) for k in range(3)],
            # Minute [720, 780) (step 2): too few neighbours to judge anyone.
        ],
    }
    step2 = {
        Stream.VEHICLE: [vehicle("quiet", 770), vehicle("clock", 900)],
        Stream.GPS: [{**REPEATED_GPS, "kafka_offset": next(_offsets)}],
        Stream.WEATHER: [
            weather("hot", 659, temp=40.0),
            *[weather(f"m{k}", 725 + k) for k in range(MIN_NEIGHBOUR_REPORTS - 1)],
            weather("lonely", 730, temp=80.0),
        ],
    }
    return run(spark, [step1, step2], flush=True)


def test_speed_exactly_at_the_limit_is_plausible(edges):
    assert flagged(edges, IMPOSSIBLE_SPEED) == ["g-dup", "g-over", "spd-over"]
    assert evidence(edges, IMPOSSIBLE_SPEED, "spd-over") == {"speed_kmh": LIMIT + 0.1, "limit_kmh": LIMIT}
    streams = {r["device_id"]: (r["stream"], r["latitude"]) for r in flat(edges)}
    assert streams["g-over"] == ("gps", None) and streams["spd-over"][0] == "vehicle"


def test_jump_just_under_and_over_the_implied_speed_noise_and_a_single_bad_fix(edges):
    assert flagged(edges, GPS_JUMP) == ["j-over", "spike"]
    e = evidence(edges, GPS_JUMP, "j-over")
    assert e["distance_m"] == pytest.approx(700, abs=0.5) and e["interval_s"] == 10
    assert e["implied_speed_kmh"] == pytest.approx(252, abs=0.5)
    times = {r["device_id"]: secs(r) for r in flat(edges) if r["rule"] == GPS_JUMP}
    assert times == {"j-over": 10, "spike": 2}


def test_stuck_run_one_short_none_at_the_threshold_one(edges):
    assert flagged(edges, STUCK_SENSOR) == ["exact"]
    (row,) = [r for r in flat(edges) if r["rule"] == STUCK_SENSOR]
    assert secs(row) == 60 * (STUCK_REPORTS - 1) + 1  # the report that completes the run
    assert evidence(edges, STUCK_SENSOR, "exact")["reading"]["temperature"] == 10.0


def test_outlier_at_the_deviation_limit_and_judged_once_its_minute_closes(edges):
    assert flagged(edges, WEATHER_OUTLIER) == ["hot", "over"]
    e = evidence(edges, WEATHER_OUTLIER, "over")
    assert e["neighbours"] == 6 and e["neighbour_median"] == NEAR
    first, second, _ = ([r["device_id"] for r in step if r["rule"] == WEATHER_OUTLIER] for step in edges)
    assert first == ["over"] and second == ["hot"]  # "hot" came in step 2, before its minute closed


def test_silence_exactly_at_the_limit_and_the_drain_flush(edges):
    def starts(device: str) -> list[float]:
        return sorted(secs(r) for r in flat(edges) if r["rule"] == DEVICE_SILENT and r["device_id"] == device)

    # A gap of exactly SILENCE_S is not a silence; SILENCE_S + 0.5 is. Each last event is, once the
    # steady watermark (880 s after step 2) passes it + SILENCE_S.
    assert starts("s-ok") == [2 * SILENCE_S]
    assert starts("s-gap") == [0, 2 * SILENCE_S]
    assert starts("s-gone") == [0]
    # "quiet" (last seen 770 s, + 120 s = 890 s) is not silent yet, though the flush raised W past 900 + G.
    assert starts("quiet") == [] and starts("clock") == []
    assert [r for r in edges[-1] if r["rule"] == DEVICE_SILENT] == []
    for r in flat(edges):
        if r["rule"] == DEVICE_SILENT:
            assert r["event_id"] is None and json.loads(r["evidence"])["limit_s"] == SILENCE_S


def test_every_flag_once(edges):
    ids = [r["anomaly_id"] for r in flat(edges)]
    assert len(ids) == len(set(ids))


def test_flags_do_not_depend_on_micro_batch_boundaries(spark):
    events = [
        *[(Stream.VEHICLE, vehicle("v", 2 * k, north_m=10 * k)) for k in range(10)],
        (Stream.VEHICLE, vehicle("v", 21, north_m=3000)),
        *[(Stream.VEHICLE, vehicle("w", 3 * k, speed=300.0 if k == 4 else 40.0)) for k in range(8)],
        *[
            (
                Stream.WEATHER,
                weather(f"st{k}", 60 * j + k, temp=30.0 if (k, j) == (3, 2) else 10.0, wind=j + k),
            )
            for k in range(5)
            for j in range(4)
        ],
        *[(Stream.WEATHER, weather("stuck", 60 * j + 7)) for j in range(STUCK_REPORTS)],
        (Stream.VEHICLE, vehicle("last", 400)),
    ]

    def split(parts: int) -> list[dict[Stream, list[dict]]]:
        ordered = sorted(events, key=lambda e: e[1]["event_time"])
        size = math.ceil(len(ordered) / parts)
        out = []
        for i in range(0, len(ordered), size):
            chunk: dict[Stream, list[dict]] = {}
            for stream, r in ordered[i : i + size]:
                chunk.setdefault(stream, []).append(r)
            out.append(chunk)
        return out

    def table(steps):
        return sorted((r["anomaly_id"], r["rule"], r["event_id"], r["evidence"]) for r in flat(steps))

    whole, pieces = table(run(spark, split(1))), table(run(spark, split(4)))
    assert whole == pieces
    rules = {rule for _, rule, _, _ in whole}
    assert rules == {GPS_JUMP, IMPOSSIBLE_SPEED, WEATHER_OUTLIER, STUCK_SENSOR, DEVICE_SILENT}
