"""The event contract: what it accepts, what it rejects (and why), and that every schema agrees with it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from smartcity.config import Stream
from smartcity.contract import (
    CONTRACT_VERSION,
    MODELS,
    PARTITION_KEYS,
    ContractViolation,
    enriched_columns,
    field_constraints,
    glue_columns,
    json_schema,
    message_fields,
    parse_event,
    parse_location,
    quarantine_columns,
    raw_columns,
    spark_schema,
    sql_ddl,
)
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.world import World, WorldParams

pytestmark = pytest.mark.unit
NOW = datetime(2025, 6, 2, tzinfo=UTC)

VEHICLE = {
    "id": "6b1f0f4e-2f4c-4a55-9a0e-1c2b3d4e5f60",
    "deviceId": "vehicle-00001",
    "timestamp": "2025-06-01T08:00:00.250Z",
    "location": [51.5131, -0.1589],
    "speed": 42.5,
    "direction": "North-East",
    "make": "Toyota",
    "model": "Prius",
    "year": 2020,
    "fuelType": "Hybrid",
}


def _vehicle(**changes: object) -> str:
    data = {**VEHICLE, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not _DROP})


_DROP = object()


def generated_events(scenario: str, seconds: int = 300) -> list[tuple[Stream, str]]:
    world = World.create(
        WorldParams(scenario=scenario, vehicles=40, seed=7), epoch_ms(datetime(2025, 6, 1, 8, tzinfo=UTC))
    )
    out: list[tuple[Stream, str]] = []
    for _ in range(seconds):
        world.step(lambda s, _k, v, _ms: out.append((s, v)))
    return out


@pytest.mark.parametrize("scenario", ["london", "london-birmingham"])
def test_every_generated_event_validates_against_the_models_and_json_schema(scenario: str) -> None:
    events = generated_events(scenario)
    assert {s for s, _ in events} == set(Stream), "a 5-minute run must exercise all five streams"
    schemas = {s: jsonschema.Draft202012Validator(json_schema(s)) for s in Stream}
    ids = set()
    for stream, raw in events:
        event = parse_event(stream, raw, now=NOW)
        assert isinstance(event, MODELS[stream])
        schemas[stream].validate(json.loads(raw))
        ids.add(event.id)  # type: ignore[attr-defined]
    assert len(ids) == len(events), "ids are unique per event"


@pytest.mark.parametrize(
    "value",
    [
        [51.5, -0.12],
        "51.5,-0.12",
        "(51.5, -0.12)",
        " ( 51.5 ,-0.12 ) ",
        {"lat": 51.5, "lon": -0.12},
        [51.5, -0.12],
    ],
)
def test_every_location_format_gives_the_same_coordinates(value: object) -> None:
    assert parse_location(value) == (51.5, -0.12)
    event = parse_event(Stream.VEHICLE, _vehicle(location=value), now=NOW)
    assert event.location == (51.5, -0.12)  # type: ignore[attr-defined]


def test_timestamp_without_offset_is_utc_and_offsets_are_converted() -> None:
    naive = parse_event(Stream.VEHICLE, _vehicle(timestamp="2025-06-01T08:00:00"), now=NOW)
    assert naive.timestamp == datetime(2025, 6, 1, 8, tzinfo=UTC)  # type: ignore[attr-defined]
    offset = parse_event(Stream.VEHICLE, _vehicle(timestamp="2025-06-01T10:00:00+02:00"), now=NOW)
    assert offset.timestamp == datetime(2025, 6, 1, 8, tzinfo=UTC)  # type: ignore[attr-defined]


MALFORMED = [
    ("invalid_json", "$", '{"id": "6b1f0f4e-2f4c-4a55-9a0e-1c2b3d4e5f60", "deviceId": '),
    ("wrong_type", "$", "[1, 2, 3]"),
    ("missing_field", "deviceId", _vehicle(deviceId=_DROP)),
    ("missing_field", "location", _vehicle(location=_DROP)),
    ("wrong_type", "speed", _vehicle(speed="42.5")),
    ("wrong_type", "speed", _vehicle(speed=True)),
    ("wrong_type", "year", _vehicle(year=2020.5)),
    ("wrong_type", "deviceId", _vehicle(deviceId=17)),
    ("wrong_type", "timestamp", _vehicle(timestamp=1717228800)),
    ("wrong_type", "location", _vehicle(location=True)),
    ("out_of_range", "location", _vehicle(location=[91.2, 0.0])),
    ("out_of_range", "location", _vehicle(location="10,-180.5")),
    ("out_of_range", "speed", _vehicle(speed=-3)),
    ("out_of_range", "year", _vehicle(year=1850)),
    ("future_timestamp", "timestamp", _vehicle(timestamp="2125-06-01T08:00:00Z")),
    ("invalid_value", "timestamp", _vehicle(timestamp="yesterday")),
    ("invalid_value", "direction", _vehicle(direction="Up")),
    ("invalid_value", "id", _vehicle(id="not-a-uuid")),
    ("invalid_value", "location", _vehicle(location="51.5;-0.1")),
]


@pytest.mark.parametrize(("kind", "field", "raw"), MALFORMED)
def test_every_malformed_kind_is_rejected_with_a_reason_naming_the_field(
    kind: str, field: str, raw: str
) -> None:
    with pytest.raises(ContractViolation) as caught:
        parse_event(Stream.VEHICLE, raw, now=NOW)
    exc = caught.value
    assert (exc.kind, exc.field) == (kind, field)
    assert str(exc).startswith(f"{kind}: {field} ")


def test_out_of_range_reason_is_exact() -> None:
    with pytest.raises(
        ContractViolation, match=re.escape("out_of_range: location latitude 91.2 not in [-90, 90]")
    ):
        parse_event(Stream.VEHICLE, _vehicle(location="(91.2, 3)"), now=NOW)


def test_future_limit_is_configurable() -> None:
    soon = (NOW + timedelta(minutes=3)).isoformat()
    parse_event(Stream.VEHICLE, _vehicle(timestamp=soon), now=NOW)
    with pytest.raises(ContractViolation, match="future_timestamp"):
        parse_event(Stream.VEHICLE, _vehicle(timestamp=soon), now=NOW, max_future=timedelta(minutes=1))


def test_raw_columns_follow_the_models() -> None:
    for stream in Stream:
        names = [c.name for c in raw_columns(stream)]
        expected: list[str] = []
        for name, ftype, _ in message_fields(stream):
            if ftype == "timestamp":
                expected.append("event_time")
            elif ftype == "location":
                expected += ["latitude", "longitude", "cell_id"]
            else:
                expected.append(re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower())
        assert names == [*expected, "kafka_partition", "kafka_offset", "ingest_time"]
    assert "cell_id" not in [c.name for c in raw_columns(Stream.GPS)]
    assert [c.name for c in raw_columns(Stream.VEHICLE)][:3] == ["id", "device_id", "event_time"]
    assert PARTITION_KEYS == ("dt", "hour")


def test_enriched_columns_are_exactly_issue_4s() -> None:
    expected = [
        *("event_id", "device_id", "event_time", "latitude", "longitude", "speed", "direction", "make"),
        *("model", "year", "fuel_type", "cell_id", "gps_event_id", "gps_speed", "gps_direction"),
        *("vehicle_type", "gps_time_delta_s", "weather_event_id", "weather_station_id", "weather_time"),
        *("temperature", "weather_condition", "precipitation", "wind_speed", "humidity", "air_quality_index"),
        *("nearest_incident_id", "nearest_incident_type", "nearest_incident_distance_km"),
        "incidents_within_radius",
    ]
    columns = enriched_columns()
    assert [c.name for c in columns] == expected
    types = {c.name: c.type for c in columns}
    assert (types["event_time"], types["weather_time"], types["year"]) == ("timestamp", "timestamp", "int")
    assert not any(c.nullable for c in columns[:12]), "the vehicle's own fields are never null"
    assert all(c.nullable for c in columns[12:-1]) and not columns[-1].nullable


ALL_TABLES = [*(raw_columns(s) for s in Stream), quarantine_columns(), enriched_columns()]


@pytest.mark.parametrize("columns", ALL_TABLES)
def test_spark_glue_and_sql_schemas_agree_with_the_column_specs(columns: list) -> None:  # type: ignore[type-arg]
    spark = spark_schema(columns)
    spark_types = {
        "string": "string",
        "double": "double",
        "int": "int",
        "bigint": "bigint",
        "timestamp": "timestamp",
        "boolean": "boolean",
    }
    assert [(f.name, f.dataType.simpleString(), f.nullable) for f in spark.fields] == [
        (c.name, spark_types[c.type], c.nullable) for c in columns
    ]
    assert [(g["Name"], g["Type"]) for g in glue_columns(columns)] == [(c.name, c.type) for c in columns]
    sql_types = {
        "string": "TEXT",
        "double": "DOUBLE PRECISION",
        "int": "INTEGER",
        "bigint": "BIGINT",
        "timestamp": "TIMESTAMPTZ",
        "boolean": "BOOLEAN",
    }
    for dialect in ("postgres", "redshift"):
        ddl = sql_ddl("t", columns, dialect)  # type: ignore[arg-type]
        lines = [ln.strip().rstrip(",") for ln in ddl.splitlines()[1:-1]]
        assert [ln.split()[0] for ln in lines] == [c.name for c in columns]
        for line, c in zip(lines, columns, strict=True):
            assert line.endswith("NOT NULL") != c.nullable
            if dialect == "postgres":
                assert line.split(" ", 1)[1].removesuffix(" NOT NULL") == sql_types[c.type]
            elif c.type == "string":
                assert "VARCHAR(" in line


def test_field_constraints_are_the_models_bounds() -> None:
    vehicle = field_constraints(Stream.VEHICLE)
    assert vehicle["speed"] == {"minimum": 0, "maximum": 400}
    assert "North-East" in vehicle["direction"]["enum"]
    assert field_constraints(Stream.EMERGENCY)["status"]["enum"] == ["Active", "Resolved"]
    assert json_schema(Stream.GPS)["x-contract-version"] == CONTRACT_VERSION
