"""The five event types, version 1.0: the one source of truth for every schema in the pipeline.

Field names are the smart-city tutorial's camelCase names so its producers keep working. The models
are strict (a number sent as a string is a wrong type, not something to coerce) because the streaming
job applies the same rules in Spark, where silent coercion would make the two disagree. Units live in
each field's description; exporters and docs read them from here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from smartcity.config import Stream
from smartcity.contract.errors import ContractViolation
from smartcity.contract.location import parse_location

CONTRACT_VERSION = "1.0"

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
COMPASS = ("North", "North-East", "East", "South-East", "South", "South-West", "West", "North-West")


def _location(value: Any) -> tuple[float, float]:
    try:
        return parse_location(value)
    except ContractViolation as exc:
        raise PydanticCustomError(exc.kind, "{detail}", {"detail": exc.detail}) from None


def _timestamp(value: Any) -> datetime:
    """ISO-8601; a timestamp without an offset is read as UTC (documented in docs/contract.md)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "invalid_value", "{detail}", {"detail": f"{value[:64]!r} is not an ISO-8601 timestamp"}
            ) from None
    else:
        raise PydanticCustomError(
            "wrong_type", "{detail}", {"detail": f"must be an ISO-8601 string, got {type(value).__name__}"}
        )
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise PydanticCustomError(
            "out_of_range", "{detail}", {"detail": f"{value!s:.64} is outside the years 1 to 9999 in UTC"}
        ) from None


Location = Annotated[
    tuple[float, float],
    BeforeValidator(_location),
    WithJsonSchema(
        {
            "description": "WGS84 position: [lat, lon], 'lat,lon', '(lat, lon)' or {lat, lon}; "
            "latitude in [-90, 90], longitude in [-180, 180]",
            "anyOf": [
                {
                    "type": "array",
                    "prefixItems": [{"type": "number"}, {"type": "number"}],
                    "minItems": 2,
                    "maxItems": 2,
                },
                {"type": "string", "pattern": r"^\s*\(?\s*-?[0-9.eE+-]+\s*,\s*-?[0-9.eE+-]+\s*\)?\s*$"},
                {
                    "type": "object",
                    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                    "required": ["lat", "lon"],
                },
            ],
        }
    ),
]
Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO-8601 event time; without an offset it is read as UTC",
        }
    ),
]
EventId = Annotated[str, Field(pattern=UUID_PATTERN, description="UUID, unique per event")]
DeviceId = Annotated[str, Field(min_length=1, max_length=256)]
Direction = Annotated[Literal[COMPASS], Field(description="Compass heading, 8 points")]  # type: ignore[valid-type]


class Event(BaseModel):
    """Fields every event carries. Unknown extra fields are ignored (newer producers stay readable)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    id: EventId
    deviceId: DeviceId = Field(description="Sending device; the Kafka message key")
    timestamp: Timestamp


class VehicleEvent(Event):
    """Vehicle telemetry (topic ``vehicle_data``)."""

    location: Location
    speed: float = Field(ge=0, le=400, description="km/h")
    direction: Direction
    make: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=64)
    year: int = Field(ge=1900, le=2100, description="Model year")
    fuelType: str = Field(min_length=1, max_length=32, description="e.g. Petrol, Diesel, Hybrid, Electric")


class GpsEvent(Event):
    """GPS fix of a vehicle (topic ``gps_data``); no position by the tutorial's layout, speed and heading."""

    speed: float = Field(ge=0, le=400, description="km/h")
    direction: Direction
    vehicleType: str = Field(min_length=1, max_length=32, description="e.g. private, taxi, bus, delivery")


class TrafficEvent(Event):
    """A fixed camera saw a vehicle pass (topic ``traffic_data``); ``deviceId`` is the passing vehicle."""

    cameraId: str = Field(min_length=1, max_length=64)
    location: Location
    snapshot: str = Field(max_length=65535, description="Base64-encoded image (thumbnail)")


class WeatherEvent(Event):
    """Weather station report (topic ``weather_data``); ``deviceId`` is the station id."""

    location: Location
    temperature: float = Field(ge=-90, le=60, description="°C")
    weatherCondition: Literal["Sunny", "Cloudy", "Rain", "Snow"]
    precipitation: float = Field(ge=0, le=500, description="mm in the last hour")
    windSpeed: float = Field(ge=0, le=500, description="km/h")
    humidity: float = Field(ge=0, le=100, description="% relative humidity")
    airQualityIndex: float = Field(ge=0, le=500, description="AQI, 0 (good) to 500 (hazardous)")


class EmergencyEvent(Event):
    """Incident report (topic ``emergency_data``); ``deviceId`` is the reporting device."""

    incidentId: str = Field(
        min_length=1, max_length=64, description="Same id for every report of one incident"
    )
    # "None" is the tutorial producer's placeholder type; accepted so that producer keeps working.
    type: Literal["Accident", "Fire", "Medical", "Police", "None"]
    location: Location
    status: Literal["Active", "Resolved"]
    description: str = Field(max_length=65535)


MODELS: dict[Stream, type[Event]] = {
    Stream.VEHICLE: VehicleEvent,
    Stream.GPS: GpsEvent,
    Stream.TRAFFIC: TrafficEvent,
    Stream.WEATHER: WeatherEvent,
    Stream.EMERGENCY: EmergencyEvent,
}
