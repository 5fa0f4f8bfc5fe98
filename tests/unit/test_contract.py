"""The event contract: what it accepts, what it rejects (and why), and that every schema agrees with it."""

from __future__ import annotations

import contextlib
import functools
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
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
from smartcity.contract import validate as contract_validate
from smartcity.contract.errors import VIOLATION_KINDS
from smartcity.contract.validate import check_not_future, validate_reference
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.faults import MALFORMED_KINDS, malform
from smartcity.simulate.world import World, WorldParams
from tests.sizes import SIZES

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


def generated_events(scenario: str, seconds: int) -> list[tuple[Stream, str]]:
    world = World.create(
        WorldParams(scenario=scenario, vehicles=40, seed=7), epoch_ms(datetime(2025, 6, 1, 8, tzinfo=UTC))
    )
    out: list[tuple[Stream, str]] = []
    for _ in range(seconds):
        world.step(lambda s, _k, v, _ms: out.append((s, v)))
    return out


@functools.cache
def _generated(scenario: str) -> tuple[tuple[Stream, str], ...]:
    """A scenario's events, generated once per test session (several tests read them, none changes them)."""
    return tuple(generated_events(scenario, SIZES.city_seconds))


@pytest.mark.parametrize("scenario", ["london", "london-birmingham"])
def test_every_generated_event_validates_against_the_models_and_json_schema(scenario: str) -> None:
    events = _generated(scenario)
    assert {s for s, _ in events} == set(Stream), "the run must exercise all five streams"
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


def test_enriched_columns_are_exactly_the_public_ones() -> None:
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


# --- The fast path (pydantic's JSON parser) gives the reference path's verdict on every input ---------

MAX_FUTURE = timedelta(minutes=5)


def _reference(stream: Stream, raw: object) -> object:
    """``parse_event`` as defined by the reference path alone: ``json.loads`` + Python-mode validation."""
    event = validate_reference(stream, raw)  # type: ignore[arg-type]
    check_not_future(event.timestamp, NOW, MAX_FUTURE)  # type: ignore[attr-defined]
    return event


def _outcome(judge: Callable[[Stream, object], object], stream: Stream, raw: object) -> tuple[str, ...]:
    """Accepted with these exact values (``repr`` tells -0.0 from 0.0 and 1 from 1.0), or the reason."""
    try:
        event = judge(stream, raw)
    except ContractViolation as exc:
        return ("rejected", exc.kind, exc.field, exc.detail)
    except Exception as exc:  # the reference's own failures (wrong input type, nesting too deep for json)
        return ("raised", type(exc).__name__, str(exc))
    return ("accepted", type(event).__name__, repr(event.model_dump()))  # type: ignore[attr-defined]


def _assert_same_verdicts(corpus: list[tuple[Stream, object]]) -> Counter[str]:
    """Every message judged alike by ``parse_event`` and the reference; returns the outcomes' counts."""
    seen: Counter[str] = Counter()
    differing = []
    for stream, raw in corpus:
        new = _outcome(lambda s, r: parse_event(s, r, now=NOW), stream, raw)  # type: ignore[arg-type]
        old = _outcome(_reference, stream, raw)
        if new != old:
            differing.append((stream.value, raw if len(repr(raw)) < 300 else repr(raw)[:300], new, old))
        seen[old[0] if old[0] != "rejected" else old[1]] += 1
    assert not differing, f"{len(differing)} of {len(corpus)} differ, e.g. {differing[:3]}"
    return seen


def _first_of_each_stream() -> dict[Stream, dict[str, bytes]]:
    """One simulator message per stream as ``{field: raw JSON token}``, to splice odd tokens into."""
    first: dict[Stream, dict[str, bytes]] = {}
    for stream, raw in _generated("london"):
        if stream not in first:
            first[stream] = {k: json.dumps(v).encode() for k, v in json.loads(raw).items()}
    return first


def _message(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"{" + b",".join(b'"' + k + b'":' + v for k, v in pairs) + b"}"


def _with_str_forms(corpus: list[tuple[Stream, bytes]]) -> list[tuple[Stream, object]]:
    """Each message as bytes and, where it decodes (surrogates kept), as ``str``."""
    out: list[tuple[Stream, object]] = []
    for stream, raw in corpus:
        out.append((stream, raw))
        with contextlib.suppress(UnicodeDecodeError):
            out.append((stream, raw.decode("utf-8", "surrogatepass")))
    return out


# Raw JSON tokens where json.loads and pydantic's parser (jiter) + JSON-mode validation could disagree.
_NESTED = [b"[" * n + b"]" * n for n in (150, 199, 200, 201, 250)]
ODD_TOKENS: list[bytes] = [
    *(b"0", b"-0", b"-0.0", b"0.0", b"1", b"42", b"42.5", b"-1", b"400", b"400.0000000000001", b"1e2"),
    *(b"1E+2", b"2020", b"2020.0", b"2.02e3", b"2020e0", b"1e400", b"-1e400", b"1e-400", b"-1e-400"),
    *(b"NaN", b"Infinity", b"-Infinity", b"-NaN", b"+Infinity", b"nan", b"inf", b"+1", b"01", b".5"),
    *(b"1.", b"1.e5", b"1e", b"-", b"0x10", b"12345678901234567890", b"9007199254740993"),
    *(b"9" * 4300, b"-" + b"9" * 4300, b"9" * 4301, b"9" * 5000 + b".5", b"0." + b"1" * 5000),
    b"0.1000000000000000055511151231257827021181583404541015625",
    *(b"true", b"false", b"null", b"True", b"tru", b"None"),
    *(b'"42.5"', b'""', b'"North"', b'"Sunny"', b'"Fire"', b'"Active"', b'"x"', b'"x' + b"y" * 64 + b'"'),
    *(b'"\\ud800"', b'"\\udc00"', b'"\\ude00\\ud83d"', b'"\\ud83dA"', b'"\\ud83d\\ude00"', b'"\xed\xa0\x80"'),
    *(b'"\xff"', b'"\xc3"', b'"\xc0\xaf"', b'"\xf4\x90\x80\x80"', b'"\xef\xbb\xbf"', b'"\xe2\x80\xa8"'),
    *(b'"a\\u0000b"', b'"a\x00b"', b'"a\tb"', b'"a\x1fb"', b'"a\x7fb"', b'"\\u00e9"', b'"\\u00E9"', b'"\\/"'),
    *(b'"\\x41"', b'"\\u12"', b'"\\\'"', b'"Nor\\u0074h"', b'"\xef\xbc\x95\xef\xbc\x91.5,0"'),
    *(b'"2025-06-01T08:00:00Z"', b'"2025-06-01T08:00:00"', b'"2025-06-01T10:00:00+02:00"'),
    *(b'"2025-06-01T10:00:00\\u002b02:00"', b'"2025-06-01 08:00:00.123456"', b'"2025-06-01T08:00:00,5"'),
    *(b'"2125-06-01T08:00:00Z"', b'"2025-02-30T00:00:00Z"', b'"yesterday"', b"1748764800"),
    *(b'"51.5,-0.12"', b'"(51.5, -0.12)"', b'" ( 51.5 ,-0.12 ) "', b'"51.5;-0.12"', b'"\\u200951.5,-0.12"'),
    *(b'"NaN,0"', b'"1e400,0"', b'"-0,-0"', b'"51.5,-0.12\\u0000"', b'"[51.5,-0.12]"'),
    *(b'"6b1f0f4e-2f4c-4a55-9a0e-1c2b3d4e5f60"', b'"6b1f0f4e-2f4c-4a55-9a0e-1c2b3d4e5f6\\u0030"'),
    *(b'"6b1f0f4e-2f4c-4a55-9a0e-1c2b3d4e5f60\\n"', b'"6B1F0F4E-2F4C-4A55-9A0E-1C2B3D4E5F60"'),
    *(b"[]", b"{}", b"[51.5, -0.12]", b"[51.5,-0.12,]", b"[-0, 0]", b"[-0.0, -0.0]", b"[51, 0]", b"[1e2, 0]"),
    *(
        b"[NaN, 0]",
        b"[Infinity, 0]",
        b"[1e400, 0]",
        b"[true, 1]",
        b'["1", "2"]',
        b"[1, 2, 3]",
        b"[[51.5, 0]]",
    ),
    *(b"[0.1000000000000000055511151231257827021181583404541015625, 12345678901234567890]",),
    *(b'{"lat": 51.5, "lon": -0.12}', b'{"lat": 51.5, "lon": -0.12, "lat": 95}', b'{"lat": 51.5}'),
    *(b'{"lat": 95, "lon": -0.12, "lat": 51.5}', b'{"lat": 51.5, "l\\u006fn": -0.12}', b'{"lat": 51.5,}'),
    *(b'{"lat": 51.5, "lon": -0.12, "lon": "x"}', b'{"lat": -0, "lon": NaN}', b'{"lat": [1], "lon": 2}'),
    *_NESTED,
]


def _token_corpus() -> list[tuple[Stream, bytes]]:
    """Every field of every stream set to every odd token, plus the token as an ignored extra field and
    duplicate keys (plain and escaped) with a good value before or after a bad one."""
    corpus: list[tuple[Stream, bytes]] = []
    for stream, fields in _first_of_each_stream().items():
        base = list(fields.items())
        keys = [k.encode() for k, _ in base]
        for token in ODD_TOKENS:
            corpus.append((stream, _message([(k.encode(), v) for k, v in base] + [(b"extra", token)])))
            corpus.append((stream, _message([(b"extra", token)] + [(k.encode(), v) for k, v in base])))
            for i, key in enumerate(keys):
                pairs = [(k.encode(), v) for k, v in base]
                good = pairs[i][1]
                corpus.append((stream, _message([*pairs[:i], (key, token), *pairs[i + 1 :]])))
                corpus.append((stream, _message([*pairs, (key, token)])))  # the last of a duplicate wins
                corpus.append((stream, _message([(key, token), *pairs])))
                escaped = b"".join(b"\\u%04x" % c for c in key)
                corpus.append((stream, _message([*pairs, (escaped, token)])))
                corpus.append(
                    (stream, _message([(escaped, token), *pairs[:i], (key, good), *pairs[i + 1 :]]))
                )
        for i, key in enumerate(keys):  # a field under a near-miss name is missing
            for other in (key.upper(), key + b" ", b"\\u0000" + key):
                corpus.append(
                    (
                        stream,
                        _message([(other if j == i else k.encode(), v) for j, (k, v) in enumerate(base)]),
                    )
                )
    return corpus


def _framing_corpus() -> list[tuple[Stream, object]]:
    """Whole-message variants: encodings and BOMs, whitespace, trailing data, non-objects, truncation,
    other input types."""
    corpus: list[tuple[Stream, object]] = []
    for stream, fields in _first_of_each_stream().items():
        m = _message([(k.encode(), v) for k, v in fields.items()])
        text = m.decode()
        variants: list[object] = [
            m,
            text,
            b"\xef\xbb\xbf" + m,
            "\ufeff" + text,
            b"\xef\xbb\xbf\xef\xbb\xbf" + m,
            m + b"\xef\xbb\xbf",
            *(text.encode(enc) for enc in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le")),
            *(text.encode(enc) for enc in ("utf-32-be", "utf-8-sig", "latin-1")),
            b" \t\r\n" + m + b" \t\r\n",
            *(ws + m for ws in (b"\x0c", b"\x0b", b"\x00", b"\xc2\xa0", b"\xe2\x80\x8b")),
            *(m + tail for tail in (b"\x0c", b"\x00", b"{}", b"]", b" x", b"\n" + m, b"// c", b"\x1a")),
            "\u00a0" + text,
            text + "\u3000",
            m.replace(b",", b" ,\n\t").replace(b":", b" : "),
            m[:-1] + b",}",
            b"[" + m + b"]",
            *(b"null", b"true", b"42", b'"x"', b"", b" ", b"{}", b"[]", b"{", b"}", b'"' + m + b'"'),
            json.dumps(text).encode(),
            *(m[:n] for n in range(1, len(m), max(1, len(m) // 25))),
            bytearray(m),
            memoryview(m),
            None,
            m[:-1] + b',"deep":' + b"[" * 3000 + b"]" * 3000 + b"}",
        ]
        corpus += [(stream, v) for v in variants]
    return corpus


def _simulator_corpus() -> list[tuple[Stream, bytes]]:
    """The simulator's messages (both scenarios) and its malformed versions of some of them."""
    rng = random.Random(11)
    corpus: list[tuple[Stream, bytes]] = []
    for scenario in ("london", "london-birmingham"):
        events = _generated(scenario)
        corpus += [(s, v.encode()) for s, v in events]
        for stream, value in events[::40]:
            for kind in MALFORMED_KINDS:
                corpus.append((stream, malform(stream, value, kind, rng).encode()))
    return corpus


def _mutant_corpus(n: int = 6000) -> list[tuple[Stream, bytes]]:
    """Random byte edits of simulator messages, with bytes that matter to JSON parsers."""
    rng = random.Random(5)
    alphabet = b' \t\n\r\x00\x0c"\\,:[]{}-+.eE0123456789NaIfinytul\xff\xed\xa0\x80\xef\xbb\xbf\xc3'
    events = [(s, v.encode()) for s, v in _generated("london")[::7]]
    corpus = []
    for _ in range(n):
        stream, raw = rng.choice(events)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(raw))
            op = rng.randrange(4)
            byte = bytes([rng.choice(alphabet)])
            if op == 0:
                raw = raw[:at] + raw[at + 1 :]
            elif op == 1:
                raw = raw[:at] + byte + raw[at:]
            elif op == 2:
                raw = raw[:at] + byte + raw[at + 1 :]
            else:
                raw = raw[:at] + raw[at : at + rng.randint(1, 12)] + raw[at:]
        corpus.append((stream, raw))
    return corpus


def _number_corpus(n: int = 3000) -> list[tuple[Stream, bytes]]:
    """Valid messages with numbers written many ways (long mantissas, exponents, -0), so the two float
    parsers are compared on values that are accepted."""
    rng = random.Random(3)
    fields = _first_of_each_stream()[Stream.VEHICLE]
    corpus = []
    for _ in range(n):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 30)))
        point = rng.randint(0, len(digits))
        mantissa = (digits[:point] or "0").lstrip("0") or "0"
        number = mantissa + (f".{digits[point:]}" if digits[point:] else "")
        if rng.random() < 0.4:
            number += f"e{rng.randint(-30, 2)}"
        lat = rng.choice(("-", "")) + f"{rng.uniform(0, 90):.{rng.randint(0, 20)}f}"
        changed = {**fields, "speed": number.encode(), "location": f"[{lat}, {number}]".encode()}
        corpus.append((Stream.VEHICLE, _message([(k.encode(), v) for k, v in changed.items()])))
    return corpus


def test_parse_event_judges_the_simulators_messages_as_the_reference_path() -> None:
    seen = _assert_same_verdicts(list(_simulator_corpus()))
    generated = sum(len(_generated(scenario)) for scenario in ("london", "london-birmingham"))
    assert seen["accepted"] == generated  # every message as the simulator wrote it; no malformed version
    assert {k for k in seen if k != "accepted"} == set(MALFORMED_KINDS)


def test_parse_event_judges_odd_tokens_in_every_field_as_the_reference_path() -> None:
    seen = _assert_same_verdicts(_with_str_forms(_token_corpus()[:: SIZES.corpus_stride]))
    assert set(seen) == {"accepted", *VIOLATION_KINDS}


def test_parse_event_judges_odd_framings_and_input_types_as_the_reference_path() -> None:
    seen = _assert_same_verdicts(_framing_corpus())
    assert seen["accepted"] >= 5 * 6 and seen["invalid_json"] > 0 and seen["wrong_type"] > 0
    assert seen["raised"] >= 5 * 2  # memoryview and None are no JSON
    # 3000 levels overflow json's stack: a reject (invalid_json), never an exception out of the contract
    deep = [(s, raw) for s, raw in _framing_corpus() if isinstance(raw, bytes) and b"[" * 3000 in raw]
    assert deep and all(_outcome(_reference, s, raw)[:2] == ("rejected", "invalid_json") for s, raw in deep)


def test_parse_event_judges_random_byte_edits_as_the_reference_path() -> None:
    seen = _assert_same_verdicts(_with_str_forms(_mutant_corpus()[:: SIZES.corpus_stride]))
    assert seen["accepted"] > 100 and seen["invalid_json"] > 1000


def test_parse_event_reads_numbers_as_the_reference_path() -> None:
    corpus = _number_corpus()[:: SIZES.corpus_stride]
    seen = _assert_same_verdicts(corpus)
    assert seen["accepted"] > len(corpus) / 3


@pytest.fixture(params=[640, 0], ids=["int-digits-640", "int-digits-unlimited"])
def int_digit_limit(request: pytest.FixtureRequest) -> Iterator[int]:
    """Python's int/str conversion limit set otherwise than its default (4300 digits) for one test."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(request.param)
    yield request.param
    sys.set_int_max_str_digits(before)


def test_long_integers_are_judged_as_the_reference_path_whatever_pythons_digit_limit(
    int_digit_limit: int,
) -> None:
    """``json.loads`` refuses an integer longer than Python's limit anywhere in the message; pydantic's
    parser has a fixed limit of its own."""
    fields = _first_of_each_stream()[Stream.VEHICLE]
    corpus: list[tuple[Stream, bytes]] = []
    for n in (639, 640, 641, 1000, 4299, 4300, 4301, 6000):
        for number in (b"9" * n, b"-" + b"9" * n, b"9" * n + b".5", b"1e" + b"0" * n):
            pairs = [(k.encode(), v) for k, v in fields.items()]
            corpus.append((Stream.VEHICLE, _message([*pairs, (b"extra", number)])))
            corpus.append((Stream.VEHICLE, _message([*pairs, (b"extra", b"[" + number + b"]")])))
            corpus.append((Stream.VEHICLE, _message([*pairs, (b"year", number)])))
    seen = _assert_same_verdicts(_with_str_forms(corpus))
    assert seen["accepted"] > 0 and seen["out_of_range"] > 0
    assert (seen["invalid_json"] > 0) == (int_digit_limit > 0)


def test_valid_messages_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's messages are accepted without the reference path (which only words rejections)."""

    def unused(stream: Stream, raw: object) -> None:
        raise AssertionError(f"reference path used for {raw!r}")

    monkeypatch.setattr(contract_validate, "validate_reference", unused)
    for stream, raw in _generated("london"):
        assert isinstance(parse_event(stream, raw.encode(), now=NOW), MODELS[stream])
        assert isinstance(parse_event(stream, raw, now=NOW), MODELS[stream])


KNOWN_DIFFERENCES = [
    ("utf-8 BOM", b"\xef\xbb\xbf" + _vehicle().encode(), True),
    ("utf-16", _vehicle().encode("utf-16"), True),
    ("lone surrogate escape", _vehicle(extra="\ud800").encode(), True),
    (
        "surrogate encoded in utf-8",
        _vehicle(extra="\ud800").encode().replace(b"\\ud800", b"\xed\xa0\x80"),
        True,
    ),
    ("lone surrogate in str", json.dumps({**VEHICLE, "extra": "\udc00"}, ensure_ascii=False), True),
    ("lone surrogate in a string field", _vehicle(make="\ud800").encode(), False),
    ("nesting beyond 200", _vehicle(extra=json.loads("[" * 250 + "]" * 250)), True),
    ("4300-digit negative integer", _vehicle()[:-1] + ', "extra": -' + "9" * 4300 + "}", True),
]


@pytest.mark.parametrize(("case", "raw", "valid"), KNOWN_DIFFERENCES, ids=[c[0] for c in KNOWN_DIFFERENCES])
def test_what_only_json_loads_reads_is_left_to_the_reference_path(
    case: str, raw: bytes | str, valid: bool
) -> None:
    """Inputs ``json.loads`` reads and pydantic's parser refuses: the fast path declines, the reference
    path decides (a lone surrogate is still no valid string for the models)."""
    json.loads(raw)
    assert contract_validate._accept_fast(Stream.VEHICLE, raw) is None, case
    outcome = _outcome(lambda s, r: parse_event(s, r, now=NOW), Stream.VEHICLE, raw)  # type: ignore[arg-type]
    assert outcome == _outcome(_reference, Stream.VEHICLE, raw)
    assert (outcome[0] == "accepted") == valid, outcome
