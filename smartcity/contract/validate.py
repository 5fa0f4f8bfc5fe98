"""Validation of one raw Kafka message against the contract, with a reason fit for a quarantine row.

Pydantic's error types are folded into the contract's six kinds, and only the first problem is
reported: a quarantine reason is read by people, and one precise reason is more useful than a list.
"""

from __future__ import annotations

import json
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


def parse_event(
    stream: Stream,
    raw: bytes | str,
    *,
    now: datetime | None = None,
    max_future: timedelta = timedelta(minutes=5),
) -> BaseModel:
    """Parse and validate one message of ``stream``; raise :class:`ContractViolation` with the reason."""
    data = decode_json(raw)
    try:
        event = MODELS[stream].model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    check_not_future(event.timestamp, now, max_future)  # type: ignore[attr-defined]
    return event
