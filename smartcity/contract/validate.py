"""Validation of one raw Kafka message against the contract, with a reason fit for a quarantine row.

Pydantic's error types are folded into the contract's six kinds, and only the first problem is
reported: a quarantine reason is read by people, and one precise reason is more useful than a list.

Two paths, one verdict. The reference path (``validate_reference``: ``json.loads``, then the model in
Python mode) defines what is accepted and how a rejection is worded. The fast path hands the raw bytes
to pydantic's own JSON parser and validator in one call; it may only *accept*, and it declines every
input where its parser could disagree with ``json.loads`` (see ``_accept_fast``), so anything it does
not accept goes to the reference path, which decides and words the reason.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from smartcity.config import Stream
from smartcity.contract.errors import VIOLATION_KINDS, ContractViolation, ViolationKind
from smartcity.contract.models import MODELS

_TYPE_ERRORS = {
    "float_type",
    "int_type",
    "string_type",
    "bool_type",
    "int_from_float",
    "model_type",
    "dict_type",
    "list_type",
    "tuple_type",
    "datetime_type",
    "float_parsing",
    "int_parsing",
}
_RANGE_ERRORS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "too_long",
    "too_short",
    "string_too_short",
    "string_too_long",
    "finite_number",
}
_VALUE_ERRORS = {"literal_error", "enum", "string_pattern_mismatch"}


def _kind_of(error_type: str) -> ViolationKind:
    if error_type in VIOLATION_KINDS:
        return error_type  # type: ignore[return-value]  # raised by our own validators
    if error_type == "missing":
        return "missing_field"
    if error_type in _TYPE_ERRORS:
        return "wrong_type"
    if error_type in _RANGE_ERRORS:
        return "out_of_range"
    return "invalid_value"


def _detail(error: Any, kind: ViolationKind) -> str:
    if kind == "missing_field":
        return "is required"
    if error["type"] in VIOLATION_KINDS:
        return str(error["msg"])
    got = error.get("input")
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    message = str(error["msg"]).removeprefix("Input ").removeprefix("Value ")
    return f"{message} (got {shown[:80]})"


def from_validation_error(exc: ValidationError) -> ContractViolation:
    """The first pydantic error as a :class:`ContractViolation` naming the JSON field."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "$"
    kind = _kind_of(error["type"])
    return ContractViolation(kind, field, _detail(error, kind))


def decode_json(raw: bytes | str) -> dict[str, Any]:
    """The message as a JSON object, or ``invalid_json`` / ``wrong_type`` on ``$``."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractViolation("invalid_json", "$", f"is not valid JSON ({exc})") from None
    except RecursionError:  # a hostile producer's nesting must be a reject, not a failed micro-batch
        raise ContractViolation(
            "invalid_json", "$", "is nested too deeply to read (beyond the JSON reader's recursion limit)"
        ) from None
    if not isinstance(data, dict):
        raise ContractViolation("wrong_type", "$", f"must be a JSON object, got {type(data).__name__}")
    return data


def check_not_future(timestamp: datetime, now: datetime | None, max_future: timedelta) -> None:
    """Event times more than ``max_future`` ahead of ``now`` are a producer clock fault, not data."""
    reference = now or datetime.now(UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    if timestamp > reference + max_future:
        ahead = (timestamp - reference).total_seconds()
        raise ContractViolation(
            "future_timestamp", "timestamp", f"{timestamp.isoformat()} is {ahead:.0f} s in the future"
        )


def validate_reference(stream: Stream, raw: bytes | str) -> BaseModel:
    """The reference verdict (``json.loads``, then the model in Python mode), without the future check.

    It defines what the contract accepts and words every rejection; ``parse_event`` falls back to it
    whenever the fast path does not accept a message.
    """
    data = decode_json(raw)
    try:
        return MODELS[stream].model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


# The models' compiled validators, called directly: ``model_validate_json`` adds a Python-level wrapper.
_JSON_VALIDATORS = {stream: model.__pydantic_validator__ for stream, model in MODELS.items()}


@functools.cache
def _digit_run(limit: int, text: bool) -> re.Pattern[Any]:
    """More than ``limit`` ASCII digits in a row; matched from a run's first digit, so the scan is linear."""
    pattern = rf"(?<![0-9])[0-9]{{{limit + 1}}}"
    return re.compile(pattern) if text else re.compile(pattern.encode())


def _may_hold_overlong_int(raw: bytes | str) -> bool:
    """Whether ``raw`` may hold an integer longer than Python's int/str conversion limit.

    ``json.loads`` rejects such a number anywhere in the message (even in an ignored field); pydantic's
    parser has its own, fixed limit, so the two differ whenever Python's limit is set lower.
    """
    limit = sys.get_int_max_str_digits()
    return 0 < limit < len(raw) and _digit_run(limit, isinstance(raw, str)).search(raw) is not None


def _accept_fast(stream: Stream, raw: bytes | str) -> BaseModel | None:
    """The event if pydantic's JSON parser and the model's validator accept ``raw``, else None.

    An accepted event is the reference path's: pydantic's parser reads JSON as ``json.loads`` does
    (NaN/Infinity, the last of duplicate keys, escaped keys, numbers, whitespace) or refuses it (lone
    surrogates, surrogates encoded in UTF-8, a BOM, UTF-16/32, other input types, nesting beyond 200
    levels); the location and timestamp validators get the same Python values; strict mode treats JSON
    numbers, strings and booleans as their Python counterparts; overlong integers are screened out first.
    Any failure here defers to the reference path.
    """
    try:
        if _may_hold_overlong_int(raw):
            return None
        return _JSON_VALIDATORS[stream].validate_json(raw)
    except Exception:  # not accepted here: the reference path decides, and words the reason
        return None


def parse_event(
    stream: Stream,
    raw: bytes | str,
    *,
    now: datetime | None = None,
    max_future: timedelta = timedelta(minutes=5),
) -> BaseModel:
    """Parse and validate one message of ``stream``; raise :class:`ContractViolation` with the reason.

    A valid message is accepted by the fast path; only when it declines does the reference path run.
    """
    event = _accept_fast(stream, raw)
    if event is None:
        event = validate_reference(stream, raw)
    check_not_future(event.timestamp, now, max_future)  # type: ignore[attr-defined]
    return event
