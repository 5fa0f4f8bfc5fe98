"""Hypothesis strategies for hostile Kafka messages: what a broken or malicious producer could send.

A message starts as a valid event of some stream (values drawn inside the contract's own bounds, read
from ``message_fields`` and ``field_constraints``), then may be damaged at every level: fields dropped,
added or replaced by values of the wrong type, huge or non-finite numbers, deep nesting, every location
format broken in every way; serialised as JSON, then possibly damaged as bytes (invalid UTF-8, truncated,
other encodings, multi-MB padding, nesting the JSON readers refuse); and it may be sent on another
stream's topic. Shared by the unit fuzz, the fuzz benchmark and the streaming integration test.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as fixed_seed
from hypothesis import strategies as st

from smartcity.config import Stream
from smartcity.contract import field_constraints, message_fields

# The judge's clock in the fuzz: every generated timestamp is drawn around it.
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
MIB = 1024 * 1024


@dataclass(frozen=True)
class Hostile:
    """One generated message: the ``topic_stream`` whose topic it is sent on, the ``shape`` it was
    generated as (differs when sent on the wrong topic) and the exact bytes (None: a Kafka tombstone)."""

    topic_stream: Stream
    shape: Stream
    value: bytes | None


# ----------------------------------------------------------------------------- valid values
@functools.cache  # a strategy is built once: building one costs more than drawing from it
def _timestamps() -> st.SearchStrategy[str]:
    instants = st.datetimes(
        min_value=datetime(2025, 5, 1), max_value=(NOW + timedelta(minutes=4)).replace(tzinfo=None)
    )
    offsets = st.sampled_from([None, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])

    def render(moment: datetime, zone: timezone | None, zulu: bool) -> str:
        if zone is None:
            return moment.isoformat()
        text = moment.replace(tzinfo=UTC).astimezone(zone).isoformat()
        return text.replace("+00:00", "Z") if zulu else text

    return st.builds(render, instants, offsets, st.booleans())


@functools.cache  # a strategy is built once: building one costs more than drawing from it
def _coordinates() -> st.SearchStrategy[tuple[float, float]]:
    return st.tuples(
        st.floats(-90, 90, allow_nan=False) | st.integers(-90, 90),
        st.floats(-180, 180, allow_nan=False) | st.integers(-180, 180),
    )


def _location_formats(lat_lon: tuple[Any, Any]) -> st.SearchStrategy[Any]:
    lat, lon = lat_lon
    return st.sampled_from(
        [[lat, lon], f"{lat},{lon}", f"({lat}, {lon})", f" ( {lat} ,{lon} ) ", {"lat": lat, "lon": lon}]
    )


def _valid_value(ftype: str, rules: dict[str, Any]) -> st.SearchStrategy[Any]:
    if ftype == "timestamp":
        return _timestamps()
    if ftype == "location":
        return _coordinates().flatmap(_location_formats)
    if "enum" in rules:
        return st.sampled_from(rules["enum"])
    if "pattern" in rules:  # the only pattern is the event id's
        return st.uuids().map(str)
    if ftype in ("double", "int"):
        low, high = rules.get("minimum", -1e6), rules.get("maximum", 1e6)
        ints = st.integers(math.ceil(low), math.floor(high))
        return ints if ftype == "int" else ints | st.floats(low, high, allow_nan=False)
    return st.text(min_size=rules.get("min_length", 0), max_size=min(rules.get("max_length", 40), 40))


@functools.cache  # a strategy is built once: building one costs more than drawing from it
def valid_events(stream: Stream) -> st.SearchStrategy[dict[str, Any]]:
    """Events the contract accepts (as JSON objects), every value drawn inside its bounds."""
    rules = field_constraints(stream)
    return st.fixed_dictionaries(
        {name: _valid_value(ftype, rules.get(name, {})) for name, ftype, _ in message_fields(stream)}
    )


# ----------------------------------------------------------------------------- hostile values
HUGE_NUMBERS = [10**30, -(10**30), 2**63, -(2**63) - 1, 1e308, -1e308, 5e-324, -0.0]


@functools.cache  # a strategy is built once: building one costs more than drawing from it
def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(HUGE_NUMBERS),
        st.floats(),  # NaN and +-Infinity included: json.dumps writes them as NaN / Infinity
        st.text(max_size=30),
        st.sampled_from(["", "42.5", "true", "null", "NaN", "\x00", "\ud800", "١٢٣", "2025-13-45T25:61:00Z"]),
    )


@functools.cache  # a strategy is built once: building one costs more than drawing from it
def hostile_values() -> st.SearchStrategy[Any]:
    """Any JSON value, mostly of the wrong type for whatever field it lands in."""
    return st.recursive(
        _scalars(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )


@functools.cache  # a strategy is built once: building one costs more than drawing from it
def broken_locations() -> st.SearchStrategy[Any]:
    """Every accepted location format, broken in every way (and values of no accepted format)."""
    bad_number = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not -90 <= f <= 90),
        st.sampled_from([math.nan, math.inf, -math.inf, 10**400, "51.5", True, None, [51.5], {"v": 1}]),
    )
    any_number = _coordinates().map(lambda c: c[0])
    pair_broken = st.one_of(
        st.tuples(bad_number, any_number),
        st.tuples(any_number, bad_number),
        st.tuples(bad_number, bad_number),
    )
    arrays = st.one_of(
        pair_broken.map(list),
        st.lists(any_number, max_size=5).filter(lambda v: len(v) != 2),
        st.lists(hostile_values(), min_size=2, max_size=2),
    )
    texts = st.one_of(
        pair_broken.map(lambda p: f"{p[0]},{p[1]}"),
        pair_broken.map(lambda p: f"({p[0]}, {p[1]})"),
        st.sampled_from(
            ["", ",", "51.5", "51.5,", ",-0.1", "51.5,-0.1,3", "(51.5, -0.1", "51.5 -0.1", "((51.5,-0.1))"]
        ),
        st.sampled_from(["nan,0", "0,inf", "1e999,0", "91,0", "0,181", "-90.0001,0", "0x10,0", "1_0,2"]),
        st.text(max_size=20),
    )
    objects = st.one_of(
        pair_broken.map(lambda p: {"lat": p[0], "lon": p[1]}),
        st.sampled_from([{}, {"lat": 1}, {"lon": 1}, {"latitude": 1, "longitude": 2}, {"LAT": 1, "LON": 2}]),
        st.dictionaries(st.sampled_from(["lat", "lon", "alt"]), hostile_values(), max_size=3),
    )
    return st.one_of(arrays, texts, objects, _scalars())


@st.composite
def damaged_events(draw: st.DrawFn, stream: Stream) -> dict[str, Any]:
    """A valid event of ``stream`` with some of: fields dropped, replaced, added; location broken."""
    event = dict(draw(valid_events(stream)))
    names = list(event)
    for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        del event[name]
    for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        event[name] = draw(hostile_values())
    if "location" in event and draw(st.booleans()):
        event["location"] = draw(broken_locations())
    event.update(draw(st.dictionaries(st.text(min_size=1, max_size=10), hostile_values(), max_size=3)))
    return event


# ----------------------------------------------------------------------------- bytes
INVALID_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\x80",
]


def _utf8(text: str) -> bytes:
    """UTF-8, lone surrogates included as their (invalid) three-byte forms: producers send those too."""
    return text.encode("utf-8", "surrogatepass")


def _nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@st.composite
def damaged_bytes(draw: st.DrawFn, event: dict[str, Any]) -> bytes:
    """``event`` serialised, then possibly damaged as bytes."""
    text = json.dumps(event, allow_nan=True, ensure_ascii=draw(st.booleans()))
    how = draw(
        st.sampled_from(
            ["as_is"] * 6 + ["invalid_utf8", "truncated", "bom", "utf16", "deep", "huge", "number", "junk"]
        )
    )
    raw = _utf8(text)
    if how == "invalid_utf8":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from(INVALID_UTF8)) + raw[at:]
    if how == "truncated":
        return raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "utf16":
        return text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"])), "surrogatepass")
    if how == "deep":  # nesting as deep as a producer likes, in a field or as the whole message
        depth = draw(st.sampled_from([199, 200, 201, 999, 1000, 5000, 100_000]))
        field = draw(st.sampled_from([*event, "extra"])) if event else "extra"
        if draw(st.booleans()):
            return _nested(depth).encode()
        return _utf8(text[:-1] + ("," if event else "") + json.dumps(field) + ":" + _nested(depth) + "}")
    if how == "huge":  # a multi-MB field, sized so it can still be a Kafka message or not
        size = draw(st.sampled_from([64 * 1024, 900 * 1024, 2 * MIB, 5 * MIB]))
        field = draw(st.sampled_from(["snapshot", "description", "deviceId", "padding"]))
        padded = dict(event, **{field: "A" * size})
        return _utf8(json.dumps(padded, allow_nan=True))
    if how == "number":  # numbers no float or int holds, written as text
        literal = draw(
            st.sampled_from(["1e400", "-1e400", "9" * 5000, "1" * 4301, "0." + "0" * 400 + "1", "-0"])
        )
        field = draw(st.sampled_from([*event, "extra"])) if event else "extra"
        return _utf8(text[:-1] + ("," if event else "") + json.dumps(field) + ":" + literal + "}")
    if how == "junk":
        return draw(st.binary(max_size=64))
    return raw


@st.composite
def hostile_messages(draw: st.DrawFn) -> Hostile:
    """One message as it could arrive on one of the five topics."""
    topic_stream = draw(st.sampled_from(list(Stream)))
    # Mostly the topic's own shape; sometimes another stream's event on this topic.
    shape = draw(st.sampled_from([topic_stream] * 3 + list(Stream)))
    if draw(st.integers(0, 99)) == 0:
        return Hostile(topic_stream, shape, None)  # a tombstone
    kind = draw(st.sampled_from(["valid", "damaged", "damaged", "other_json"]))
    if kind == "valid":
        event: Any = draw(valid_events(shape))
    elif kind == "damaged":
        event = draw(damaged_events(shape))
    else:  # JSON that is not an object, or an object of nothing the contract knows
        event = draw(hostile_values())
    if not isinstance(event, dict):
        return Hostile(topic_stream, shape, _utf8(json.dumps(event, allow_nan=True)))
    return Hostile(topic_stream, shape, draw(damaged_bytes(event)))


def draw_batches(
    on_batch: Callable[[list[Hostile]], None], messages: int, *, seed: int | None, batch: int = 8
) -> None:
    """Call ``on_batch`` with generated batches of 1..``batch`` messages until ``messages`` were drawn.

    Hypothesis's generate phase only, in rounds sized to what is still missing (a round cannot be
    stopped early without reporting a failure); with a ``seed``, round r uses seed + r, so the same seed
    draws the same messages.
    """
    drawn = 0
    rounds = 0
    while drawn < messages:
        wanted = math.ceil((messages - drawn) * 2 / (batch + 1))

        @settings(
            max_examples=max(wanted, 1),
            phases=[Phase.generate],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(hostile_messages(), min_size=1, max_size=batch))
        def round_(found: list[Hostile]) -> None:
            nonlocal drawn
            if drawn < messages:
                on_batch(found)
                drawn += len(found)

        if seed is not None:
            round_ = fixed_seed(seed + rounds)(round_)
        round_()
        rounds += 1


def sample(messages: int, seed: int, batch: int = 8) -> list[Hostile]:
    """A fixed sample of ``messages`` generated messages: the same list for the same seed (and
    Hypothesis version), for tests that send a corpus through real components."""
    drawn: list[Hostile] = []
    draw_batches(drawn.extend, messages, seed=seed, batch=batch)
    return drawn[:messages]
