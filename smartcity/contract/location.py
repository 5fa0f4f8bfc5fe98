"""The single definition of the accepted ``location`` formats.

Producers written for the widely used smart-city tutorial send a Python tuple serialised as a JSON
array; others send ``"lat,lon"`` strings (with or without parentheses) or ``{"lat":..,"lon":..}``
objects. All of them are accepted, and nothing else, so the Spark-side parser in the streaming job
can be tested against this function on the same inputs.
"""

from __future__ import annotations

import math
from typing import Any

from smartcity.contract.errors import ContractViolation

LAT_RANGE = (-90.0, 90.0)
LON_RANGE = (-180.0, 180.0)
FIELD = "location"


def _number(value: Any, what: str) -> float:
    # bool is an int subclass in Python; a JSON true is never a coordinate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractViolation("wrong_type", FIELD, f"{what} must be a number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float: a reject, not a failed micro-batch
        raise ContractViolation(
            "out_of_range", FIELD, f"{what} is an integer too large for a number ({value.bit_length()} bits)"
        ) from None


def _from_text(text: str) -> tuple[float, float]:
    inner = text.strip()
    if inner.startswith("(") and inner.endswith(")"):
        inner = inner[1:-1]
    parts = inner.split(",")
    if len(parts) != 2:
        raise ContractViolation("invalid_value", FIELD, f"{text!r} is not 'lat,lon'")
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise ContractViolation("invalid_value", FIELD, f"{text!r} is not 'lat,lon'") from None


def parse_location(value: Any) -> tuple[float, float]:
    """Return ``(latitude, longitude)`` from any accepted format or raise :class:`ContractViolation`."""
    if isinstance(value, str):
        lat, lon = _from_text(value)
    elif isinstance(value, list | tuple):
        if len(value) != 2:
            raise ContractViolation(
                "invalid_value", FIELD, f"array must hold [lat, lon], got {len(value)} items"
            )
        lat, lon = _number(value[0], "latitude"), _number(value[1], "longitude")
    elif isinstance(value, dict):
        if "lat" not in value or "lon" not in value:
            raise ContractViolation("invalid_value", FIELD, "object must have 'lat' and 'lon'")
        lat, lon = _number(value["lat"], "latitude"), _number(value["lon"], "longitude")
    else:
        raise ContractViolation(
            "wrong_type", FIELD, f"must be [lat, lon], 'lat,lon' or {{lat, lon}}, got {type(value).__name__}"
        )
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ContractViolation("invalid_value", FIELD, "coordinates must be finite numbers")
    if not LAT_RANGE[0] <= lat <= LAT_RANGE[1]:
        raise ContractViolation("out_of_range", FIELD, f"latitude {lat:g} not in [-90, 90]")
    if not LON_RANGE[0] <= lon <= LON_RANGE[1]:
        raise ContractViolation("out_of_range", FIELD, f"longitude {lon:g} not in [-180, 180]")
    return lat, lon
