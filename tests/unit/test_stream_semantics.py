"""Hand-built events prove every enrichment rule of issue 4: windows, edges, ties, late, duplicates.

The steps run exactly as in the job (``step`` → segments → ``final_enriched``), with the state kept
in memory instead of the checkpoint. Batch 2 carries no emergency or weather events at all: the rows
still become final, which is the quiet-stream guarantee of the watermark policy.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from smartcity.config import Stream
from smartcity.contract import raw_columns, spark_schema
from smartcity.stream.settings import StreamSettings
from smartcity.stream.step import STATE_COLUMNS, Clock, final_enriched, step
from smartcity.stream.store import state_schemas

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
CFG = StreamSettings()
KM_PER_DEG_LAT = 6371.0 * math.pi / 180


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


def frames(spark, rows: dict[Stream, list[dict[str, object]]]):
    out = {}
    for s in Stream:
        schema = spark_schema(raw_columns(s))
        names = [f.name for f in schema.fields] + ["dt", "hour"]
        from pyspark.sql import types as T

        full = T.StructType(
            [*schema.fields, T.StructField("dt", T.StringType()), T.StructField("hour", T.StringType())]
        )
        data = [tuple(r.get(n) for n in names) for r in rows.get(s, [])]
        out[s] = spark.createDataFrame(data, full)
    return out


def run_steps(spark, batches, *, flush_at_end: bool = True):
    schemas = state_schemas({s.value: spark_schema(raw_columns(s)) for s in Stream})
    state = {k: spark.createDataFrame([], schemas[k]) for k in STATE_COLUMNS}
    clock = Clock()
    outputs = []
    steps = [(b, False) for b in batches] + ([({}, True)] if flush_at_end else [])
    results = []
    for rows, flush in steps:
        result = step(state, clock, frames(spark, rows), CFG, flush=flush)
        enriched = final_enriched(
            state, result.segments, result.watermark_before, result.clock.watermark, CFG
        )
        outputs.append([r.asDict() for r in enriched.collect()])
        results.append(result)
        state = {
            k: state[k].unionByName(result.segments[k].select(*STATE_COLUMNS[k])).localCheckpoint()
            for k in STATE_COLUMNS
        }
        clock = result.clock
    return outputs, results, state


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


def test_late_and_duplicates_are_counted_once(scenario):
    _, results, state = scenario
    assert results[1].counters["late_vehicle"] == 2  # two copies of V6 arrived late
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
            # Newest event 40 s: W = 10 s, so both vehicles (t + 10 s <= W) become final here.
            {Stream.GPS: [gps(0x320, "e3", at(40))]},
        ],
        flush_at_end=False,
    )
    assert results[0].clock.watermark == at(-20) and outputs[0] == []
    rows = by_id([outputs[1]])
    assert rows[uid(300)]["gps_event_id"] == uid(0x310) and rows[uid(300)]["gps_time_delta_s"] == 10.0
    assert rows[uid(301)]["gps_event_id"] == uid(0x311) and rows[uid(301)]["gps_time_delta_s"] == -10.0
