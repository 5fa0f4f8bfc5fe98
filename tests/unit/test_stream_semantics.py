"""Hand-built events prove every enrichment rule: windows, edges, ties, late, duplicates, the clock.

The steps run exactly as in the job (``plan_step`` → the state rows it writes → ``enriched``), with
the state kept in memory instead of the checkpoint. Batch 2 carries no emergency or weather events at
all: the rows still become final, which is the quiet-stream guarantee of the watermark policy.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import types as T

from smartcity.config import Settings, Stream, StreamSettings
from smartcity.contract import raw_columns, spark_schema
from smartcity.earth import EARTH_RADIUS_KM
from smartcity.stream.collect import collect_together
from smartcity.stream.state_version import WatermarkClock
from smartcity.stream.step import (
    STATE_KINDS,
    JudgedCounts,
    batch_tables,
    count_tables,
    judged_counts,
    kind_rows,
    plan_step,
    state_schema,
)
from smartcity.stream.validate import Validated

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
INGEST = T0 + timedelta(days=1)  # wall-clock time of every step unless a test says otherwise
CFG = StreamSettings(watermark_delay_s=30.0, max_clock_lead_s=5.0)  # the expectations below assume these
TOPICS = Settings(profile="local").topics.all()
KM_PER_DEG_LAT = EARTH_RADIUS_KM * math.pi / 180


def uid(n: int) -> str:
    return str(uuid.UUID(int=n))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def cell(lat: float, lon: float) -> str:
    return f"{math.floor(lat / 0.05)}:{math.floor(lon / 0.05)}"


_offset = iter(range(10**6))


def prov() -> dict[str, object]:
    return {"kafka_partition": 0, "kafka_offset": next(_offset), "ingest_time": T0, "dt": "x", "hour": "y"}


def vehicle(n: int, dev: str, t: datetime, lat: float = 51.5, lon: float = -0.12) -> dict[str, object]:
    return {
        "id": uid(n),
        "device_id": dev,
        "event_time": t,
        "latitude": lat,
        "longitude": lon,
        "cell_id": cell(lat, lon),
        "speed": 50.0,
        "direction": "North",
        "make": "BMW",
        "model": "X",
        "year": 2020,
        "fuel_type": "Petrol",
        **prov(),
    }


def gps(n: int, dev: str, t: datetime, speed: float = 40.0) -> dict[str, object]:
    return {
        "id": uid(n),
        "device_id": dev,
        "event_time": t,
        "speed": speed,
        "direction": "East",
        "vehicle_type": "taxi",
        **prov(),
    }


def weather(
    n: int, t: datetime, lat: float = 51.5, lon: float = -0.12, temp: float = 10.0
) -> dict[str, object]:
    return {
        "id": uid(n),
        "device_id": f"st-{n}",
        "event_time": t,
        "latitude": lat,
        "longitude": lon,
        "cell_id": cell(lat, lon),
        "temperature": temp,
        "weather_condition": "Rain",
        "precipitation": 1.0,
        "wind_speed": 5.0,
        "humidity": 70.0,
        "air_quality_index": 30.0,
        **prov(),
    }


def emergency(
    n: int,
    incident: str,
    t: datetime,
    km_north: float,
    status: str = "Active",
    base: tuple[float, float] = (51.5, -0.12),
) -> dict[str, object]:
    lat = base[0] + km_north / KM_PER_DEG_LAT
    return {
        "id": uid(n),
        "device_id": "dev",
        "incident_id": incident,
        "type": "Fire",
        "event_time": t,
        "latitude": lat,
        "longitude": base[1],
        "cell_id": cell(lat, base[1]),
        "status": status,
        "description": "",
        **prov(),
    }


def frames(spark, rows: dict[Stream, list[dict[str, object]]], watermark: datetime | None):
    """Per stream, the validated frame the judge would give: every message valid, ``late`` by the
    watermark before the step."""
    out = {}
    for s in Stream:
        schema = spark_schema(raw_columns(s))
        extra = [
            T.StructField("dt", T.StringType()),
            T.StructField("hour", T.StringType()),
            T.StructField("topic", T.StringType()),
            T.StructField("kafka_timestamp", T.TimestampType()),
            T.StructField("raw_value", T.StringType()),
            T.StructField("error", T.StringType()),
            T.StructField("late", T.BooleanType()),
        ]
        full = T.StructType([*schema.fields, *extra])
        data = []
        for r in rows.get(s, []):
            late = watermark is not None and r["event_time"] < watermark
            values = {**r, "topic": TOPICS[s], "late": late}
            data.append(tuple(values.get(f.name) for f in full.fields))
        out[s] = Validated(s, spark.createDataFrame(data, full))
    return out


def run_steps(spark, batches, *, flush_at_end: bool = True, ingest_time: datetime = INGEST):
    """Run the steps; returns the enriched rows per step, each step's plan, and the final state."""
    schema = state_schema({s: spark_schema(raw_columns(s)) for s in Stream})
    rows = spark.createDataFrame([], schema)
    clock = WatermarkClock()
    outputs, plans = [], []
    for batch_rows, flush in [(b, False) for b in batches] + ([({}, True)] if flush_at_end else []):
        state = {k: kind_rows(rows, k) for k in STATE_KINDS}
        batch = None if flush else frames(spark, batch_rows, clock.watermark)
        counts = (
            JudgedCounts()
            if batch is None
            else judged_counts(count_tables(batch_tables(batch, TOPICS)), TOPICS)
        )
        plan = plan_step(state, clock, batch, counts, CFG, ingest_time=ingest_time, schema=schema)
        segments = plan.segments if plan.segments is not None else rows.limit(0)
        segments = segments.localCheckpoint()
        side = collect_together(plan.side_frames(), "side rows")
        enriched = plan.enriched(kind_rows(segments, "vehicle"), side["weather"], side["emergency"])
        outputs.append([r.asDict() for r in enriched.collect()])
        plans.append(plan)
        rows = rows.unionByName(segments).localCheckpoint()
        clock = plan.clock
    return outputs, plans, {k: kind_rows(rows, k) for k in STATE_KINDS}


@pytest.fixture(scope="module")
def scenario(spark):
    b1 = {
        Stream.VEHICLE: [
            vehicle(1, "d1", at(0)),
            vehicle(1, "d1", at(0)),  # duplicate id: one output row
            vehicle(2, "d2", at(60)),
            vehicle(3, "d3", at(120), lat=52.0),
            vehicle(4, "d4", at(125), lat=10.0, lon=10.0),  # nothing anywhere near: all nulls
        ],
        Stream.GPS: [
            gps(0x20, "d1", at(-4), speed=1.0),
            gps(0x10, "d1", at(4), speed=2.0),  # tie on |dt|: earlier
            gps(0x31, "d2", at(57), speed=3.0),
            gps(0x30, "d2", at(57), speed=4.0),  # tie: smaller id
            gps(0x50, "d3", at(130), speed=5.0),  # exactly +10 s: inside
            gps(0x51, "d3", at(109.999), speed=6.0),  # 10.001 s before: outside
            gps(0x60, "d4", at(135.5)),  # 10.5 s after: outside
        ],
        Stream.WEATHER: [
            weather(0x70, at(-900), temp=1.0),  # exactly t-15 min for V1
            weather(0x71, at(-1), temp=2.0),  # latest for V1
            weather(0x72, at(1), temp=3.0),  # after V1: not for V1 (is for V2)
            weather(0x74, at(30), temp=5.0),
            weather(0x73, at(30), temp=4.0),  # V2: tie at t=30 -> 0x73
            weather(0x75, at(120 - 901), lat=52.0, temp=6.0),  # V3: 1 s too old
        ],
        Stream.EMERGENCY: [
            emergency(0x80, "inc-B", at(-1800), 1.0),  # exactly t-30 min, 1 km
            emergency(0x81, "inc-A", at(-600), 1.0),  # same distance: smaller incident id wins
            emergency(0x82, "inc-A", at(-300), 1.0),  # same incident again: counted once
            emergency(0x83, "inc-C", at(-60), 0.5, status="Resolved"),  # not Active
            emergency(0x84, "inc-D", at(-60), 2.5),  # outside 2 km
            emergency(0x85, "inc-E", at(1), 0.2),  # after V1 (inside V2's window but 0.2 km... see V2)
        ],
    }
    b2 = {  # no weather, no emergencies: a quiet stream must not hold vehicles back
        Stream.VEHICLE: [vehicle(5, "d5", at(600)), vehicle(6, "d6", at(50)), vehicle(6, "d6", at(50))],
        Stream.GPS: [gps(0x90, "d5", at(601))],
    }
    return run_steps(spark, [b1, b2])


def by_id(outputs):
    rows = {}
    for batch in outputs:
        for r in batch:
            assert r["event_id"] not in rows, f"{r['event_id']} emitted twice"
            rows[r["event_id"]] = r
    return rows


def test_each_vehicle_once_and_when_final(scenario):
    outputs, results, _ = scenario
    emitted = [{r["event_id"] for r in batch} for batch in outputs]
    # Step 1: W = newest (t=135.5) - 30 s = 105.5; V1 (0+10) and V2 (60+10) are final, V3/V4 open.
    assert emitted[0] == {uid(1), uid(2)}
    # Step 2 (no weather/emergency input): W = 601 - 30 = 571 closes V3 and V4; V5 stays open.
    assert emitted[1] == {uid(3), uid(4)}
    # The drain flush closes V5. V6 was late (50 < W=105.5): never emitted.
    assert emitted[2] == {uid(5)}
    assert uid(6) not in by_id(outputs)
    assert results[0].clock.watermark == at(105.5)
    assert results[1].clock.watermark == at(571)
    assert results[2].clock.watermark > at(610)  # past V5's t + 10 s


def test_late_and_duplicates_are_counted_once(scenario):
    _, results, state = scenario
    assert results[1].counts.streams[Stream.VEHICLE].late == 2  # two copies of V6 arrived late
    late_ids = [r["id"] for r in state["late_ids"].collect()]
    assert late_ids == [uid(6)]  # counted once as a distinct late id
    assert sorted(r["id"] for r in state["vehicle"].collect()) == [uid(n) for n in (1, 2, 3, 4, 5)]


def test_gps_rules(scenario):
    rows = by_id(scenario[0])
    assert rows[uid(1)]["gps_event_id"] == uid(0x20) and rows[uid(1)]["gps_time_delta_s"] == -4.0
    assert rows[uid(2)]["gps_event_id"] == uid(0x30) and rows[uid(2)]["gps_speed"] == 4.0
    assert rows[uid(3)]["gps_event_id"] == uid(0x50) and rows[uid(3)]["gps_time_delta_s"] == 10.0
    assert rows[uid(4)]["gps_event_id"] is None and rows[uid(4)]["gps_time_delta_s"] is None
    assert rows[uid(5)]["gps_event_id"] == uid(0x90)


def test_weather_rules(scenario):
    rows = by_id(scenario[0])
    assert rows[uid(1)]["weather_event_id"] == uid(0x71) and rows[uid(1)]["temperature"] == 2.0
    assert rows[uid(1)]["weather_station_id"] == "st-113"
    assert rows[uid(2)]["weather_event_id"] == uid(0x73)
    assert rows[uid(3)]["weather_event_id"] is None
    assert rows[uid(4)]["weather_event_id"] is None


def test_emergency_rules(scenario):
    rows = by_id(scenario[0])
    v1 = rows[uid(1)]
    assert v1["nearest_incident_id"] == "inc-A" and v1["incidents_within_radius"] == 2
    assert abs(v1["nearest_incident_distance_km"] - 1.0) < 1e-6
    # V2 at t=60: inc-E (0.2 km, t=1) is now in the past and nearest; inc-A counts, inc-B (t=-1800) is
    # 30 min + 60 s old: outside the window.
    v2 = rows[uid(2)]
    assert v2["nearest_incident_id"] == "inc-E" and v2["incidents_within_radius"] == 2
    assert rows[uid(4)]["nearest_incident_id"] is None and rows[uid(4)]["incidents_within_radius"] == 0


def test_window_edge_for_weather_is_inclusive(spark):
    """The weather event exactly 15 min old is used when nothing newer exists."""
    outputs, _, _ = run_steps(
        spark,
        [
            {
                Stream.VEHICLE: [vehicle(100, "d9", at(0))],
                Stream.WEATHER: [weather(0x101, at(-900))],
                Stream.EMERGENCY: [emergency(0x102, "inc-Z", at(-1800), 1.999)],
            }
        ],
    )
    row = by_id(outputs)[uid(100)]
    assert row["weather_event_id"] == uid(0x101)
    assert row["nearest_incident_id"] == "inc-Z"


def test_gps_closest_fix_after_the_event_and_its_ties(spark):
    """The closest fix may follow the vehicle event; at equal times the smaller id wins in both directions."""
    outputs, _, _ = run_steps(
        spark,
        [
            {
                Stream.VEHICLE: [vehicle(200, "d7", at(0)), vehicle(201, "d8", at(0))],
                Stream.GPS: [
                    gps(0x211, "d7", at(3), speed=1.0),
                    gps(0x210, "d7", at(3), speed=2.0),  # 3 s after, tie at the same instant: smaller id
                    gps(0x212, "d7", at(-3.5), speed=3.0),  # 3.5 s before: farther
                    gps(0x221, "d8", at(0), speed=4.0),
                    gps(0x220, "d8", at(0), speed=5.0),  # exactly at t, tie: smaller id
                ],
            }
        ],
    )
    rows = by_id(outputs)
    assert rows[uid(200)]["gps_event_id"] == uid(0x210) and rows[uid(200)]["gps_time_delta_s"] == 3.0
    assert rows[uid(201)]["gps_event_id"] == uid(0x220) and rows[uid(201)]["gps_time_delta_s"] == 0.0


def test_fixes_at_the_window_edges_reach_vehicles_final_before_the_drain(spark):
    """Vehicles finalised by the watermark (not by the drain flush) still see fixes exactly ±10 s away,
    including one accepted steps earlier, at the oldest instant an open vehicle can need."""
    outputs, results, _ = run_steps(
        spark,
        [
            {
                Stream.VEHICLE: [vehicle(300, "e1", at(0)), vehicle(301, "e2", at(-29))],
                Stream.GPS: [gps(0x310, "e1", at(10)), gps(0x311, "e2", at(-39))],
            },
            # Newest event 40.5 s: W = 10.5 s, so both vehicles (t + 10 s < W) become final here.
            {Stream.GPS: [gps(0x320, "e3", at(40.5))]},
        ],
        flush_at_end=False,
    )
    assert results[0].clock.watermark == at(-20) and outputs[0] == []
    rows = by_id([outputs[1]])
    assert rows[uid(300)]["gps_event_id"] == uid(0x310) and rows[uid(300)]["gps_time_delta_s"] == 10.0
    assert rows[uid(301)]["gps_event_id"] == uid(0x311) and rows[uid(301)]["gps_time_delta_s"] == -10.0


def test_a_vehicle_is_final_only_once_the_watermark_is_strictly_past_its_gps_window(spark):
    """At W = t + 10 s a fix exactly at t + 10 s is not late yet, so the vehicle must wait for it."""
    outputs, plans, _ = run_steps(
        spark,
        [
            # Newest event 40 s: W = 10 s = t + 10 s for the vehicle at 0: not final yet.
            {Stream.VEHICLE: [vehicle(400, "f1", at(0))], Stream.GPS: [gps(0x410, "f9", at(40))]},
            # The fix exactly 10 s after the vehicle arrives now (10 s is not before W = 10 s: on time);
            # the newest event 41 s moves W to 11 s: the vehicle is final, with that fix.
            {Stream.GPS: [gps(0x411, "f1", at(10)), gps(0x412, "f9", at(41))]},
        ],
        flush_at_end=False,
    )
    assert plans[0].clock.watermark == at(10) and outputs[0] == []
    assert plans[1].counts.streams[Stream.GPS].late == 0
    row = by_id([outputs[1]])[uid(400)]
    assert row["gps_event_id"] == uid(0x411) and row["gps_time_delta_s"] == 10.0


def test_a_producer_clock_ahead_moves_the_watermark_no_further_than_ingest_time(spark):
    """Events up to the contract's 5 min ahead are valid, but the watermark follows them only up to the
    step's ingest time + max_clock_lead_s: the other producers' events stay on time, and the ahead
    events still count (raw, enriched once the drain's flush passes them)."""
    ingest = at(1000)
    ahead = ingest + timedelta(seconds=200)
    outputs, plans, _ = run_steps(
        spark,
        [
            {
                Stream.VEHICLE: [vehicle(500, "g1", at(940)), vehicle(501, "g2", ahead)],
                Stream.GPS: [gps(0x510, "g1", at(940)), gps(0x511, "g2", ahead)],
            },
            # 20 s before ingest: late if the ahead clock had moved W to ingest + 170 s.
            {Stream.VEHICLE: [vehicle(502, "g3", at(980))], Stream.GPS: [gps(0x512, "g3", at(981))]},
        ],
        ingest_time=ingest,
    )
    lead = timedelta(seconds=CFG.max_clock_lead_s)
    assert plans[0].clock.max_event_time == ingest + lead
    assert plans[0].clock.watermark == ingest + lead - timedelta(seconds=CFG.watermark_delay_s)
    assert plans[0].counts.streams[Stream.VEHICLE].valid == 2
    assert plans[1].counts.streams[Stream.VEHICLE].late == 0
    rows = by_id(outputs)
    assert set(rows) == {uid(500), uid(501), uid(502)}  # the flush closes the ahead vehicle too
    assert rows[uid(501)]["gps_event_id"] == uid(0x511)
    assert rows[uid(502)]["gps_event_id"] == uid(0x512)


def test_a_resolved_report_ends_an_incident_for_vehicles_after_it(spark):
    """Active at t means: the incident's latest report at or before t is Active and within 30 min."""
    outputs, _, _ = run_steps(
        spark,
        [
            {
                Stream.VEHICLE: [
                    vehicle(600, "h1", at(0)),  # before the Resolved report: inc-R active
                    vehicle(601, "h2", at(120)),  # after it: not active; inc-S (re-opened) is
                    vehicle(602, "h3", at(60)),  # exactly at the Resolved report: not active
                ],
                Stream.EMERGENCY: [
                    emergency(0x610, "inc-R", at(-300), 0.5),
                    emergency(0x611, "inc-R", at(60), 0.5, status="Resolved"),
                    emergency(0x612, "inc-S", at(-600), 1.5, status="Resolved"),
                    emergency(0x613, "inc-S", at(90), 1.5),
                ],
            }
        ],
    )
    rows = by_id(outputs)
    assert rows[uid(600)]["nearest_incident_id"] == "inc-R" and rows[uid(600)]["incidents_within_radius"] == 1
    assert rows[uid(601)]["nearest_incident_id"] == "inc-S" and rows[uid(601)]["incidents_within_radius"] == 1
    assert rows[uid(602)]["nearest_incident_id"] is None and rows[uid(602)]["incidents_within_radius"] == 0
