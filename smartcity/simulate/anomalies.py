"""Anomaly injection between the world and the fault injector; every anomaly is recorded as ground truth.

Each kind of ``smartcity.anomaly.rules`` is injected so that a correct detector must flag it and nothing
else: an impossible reported speed, a vehicle fix displaced far enough to imply an impossible speed, a
weather station repeating one reading, a station's temperature far from the others' in the same minute,
a vehicle that sends nothing for longer than the silence limit and then resumes. Decisions come from
their own seeded RNG, so apart from the anomalies the stream is the one the world made. The ground truth
(``records``) is what ``smartcity.anomaly.scoring`` matches the ``anomalies`` table against; the matching
rules and the record format are described in docs/anomalies.md.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any

from smartcity.anomaly.rules import (
    DEVICE_SILENT,
    GPS_JUMP,
    IMPOSSIBLE_SPEED,
    MAX_IMPLIED_SPEED_KMH,
    MAX_PLAUSIBLE_SPEED_KMH,
    MAX_TEMPERATURE_DEVIATION_C,
    MIN_JUMP_DISTANCE_M,
    MIN_NEIGHBOUR_REPORTS,
    SILENCE_S,
    STUCK_REPORTS,
    STUCK_SENSOR,
    WEATHER_OUTLIER,
)
from smartcity.config import Stream
from smartcity.contract.models import VehicleEvent, WeatherEvent
from smartcity.errors import UsageError
from smartcity.simulate.encode import from_epoch_ms
from smartcity.simulate.world import Emit, WorldParams

# The share of a device's minutes that start an anomaly of each kind is at most this: the weather draw
# serves two kinds, so a higher rate would not fit in one probability.
MAX_ANOMALY_RATE = 0.5
# After an anomaly a device reports normally for this long before another may start, so one detector
# finding never overlaps another's evidence.
COOLDOWN_MS = 60_000
# A weather reading's measured fields: a stuck station repeats all of them.
READING_FIELDS = (
    "temperature",
    "weatherCondition",
    "precipitation",
    "windSpeed",
    "humidity",
    "airQualityIndex",
)
METRES_PER_DEG_LAT = 111_195.0


def _field_max(model: type[Any], name: str) -> float:
    """The contract's upper bound of a numeric field: an injected value must stay valid (not quarantined)."""
    for meta in model.model_fields[name].metadata:
        if hasattr(meta, "le"):
            return float(meta.le)
    raise ValueError(f"{model.__name__}.{name} has no upper bound")


CONTRACT_MAX_SPEED_KMH = _field_max(VehicleEvent, "speed")
CONTRACT_MAX_TEMPERATURE_C = _field_max(WeatherEvent, "temperature")


@dataclass(frozen=True)
class AnomalyConfig:
    """``rate``: per device and per kind, the probability that a minute of its reports starts an anomaly."""

    rate: float = 0.0
    seed: int = 0

    DEFAULT_RATE = 0.02

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= MAX_ANOMALY_RATE:
            raise UsageError(f"--anomaly-rate must be in [0, {MAX_ANOMALY_RATE}], got {self.rate}")


def _iso(ms: int) -> str:
    return from_epoch_ms(ms).isoformat()


def _record(kind: str, stream: Stream, device_id: str, event_id: str | None, event_ms: int) -> dict[str, Any]:
    """One ground-truth anomaly: ``event_id`` the event a detector must flag (null for a silence),
    ``related_event_ids`` other events of the same anomaly a detector may flag too, ``start``/``end`` the
    span of a stuck run or a silence."""
    return {
        "kind": kind,
        "stream": stream.value,
        "device_id": device_id,
        "event_id": event_id,
        "event_time": _iso(event_ms),
        "related_event_ids": [],
        "start": None,
        "end": None,
    }


class AnomalyInjector:
    """``emit`` for the world: injects anomalies at the configured rate, passes every event on to ``send``."""

    def __init__(self, config: AnomalyConfig, send: Emit, params: WorldParams) -> None:
        self.config = config
        self.send = send
        self.rng = random.Random(config.seed ^ 0xA40_3A11)
        self.records: list[dict[str, Any]] = []
        self.incomplete: list[dict[str, Any]] = []
        rate = config.rate
        self._p_vehicle = min(rate * params.vehicle_interval_s / 60.0, 1.0 / 3)
        self._p_gps = min(rate * params.gps_interval_s / 60.0, 1.0)
        self._p_weather = min(rate * params.weather_interval_s / 60.0, 0.5)
        self._fix_interval_s = params.vehicle_interval_s
        self._has_fix: set[str] = set()  # vehicles that sent a fix: a jump needs one to jump from
        self._free_at: dict[str, int] = {}  # device → earliest event time a new anomaly may start
        self._silent: dict[str, tuple[int, dict[str, Any]]] = {}  # vehicle → (silent until, record)
        self._jumped: dict[str, dict[str, Any]] = {}  # vehicle → jump record awaiting the fix back
        self._stuck: dict[
            str, tuple[dict[str, Any], int, dict[str, Any]]
        ] = {}  # station → (reading, left, record)
        self._after_stuck: dict[str, float] = {}  # station → the temperature it was stuck at
        self._minute = -1
        self._minute_reports = 0
        self._minute_has_outlier = False
        self.emit: Emit = self._emit_with_anomalies if rate > 0 else send

    # ---- the per-event decision ----------------------------------------------------------------------
    def _emit_with_anomalies(self, stream: Stream, key: str, value: str, event_ms: int) -> None:
        silent = self._silent.get(key)
        if silent is not None:
            if event_ms < silent[0]:
                return  # the device sends nothing
            self._end_silence(key, event_ms)
        elif stream is Stream.VEHICLE:
            value = self._vehicle(key, value, event_ms)
        elif stream is Stream.GPS:
            if event_ms >= self._free_at.get(key, 0) and self.rng.random() < self._p_gps:
                value = self._impossible_speed(stream, key, value, event_ms)
        elif stream is Stream.WEATHER:
            value = self._weather(key, value, event_ms)
        self.send(stream, key, value, event_ms)

    def _vehicle(self, key: str, value: str, event_ms: int) -> str:
        jump = self._jumped.pop(key, None)
        if jump is not None:
            jump["related_event_ids"].append(_event_id(value))
            self._free_at[key] = event_ms + COOLDOWN_MS
            return value
        if key not in self._has_fix:
            self._has_fix.add(key)
            return value  # a first fix has nothing to jump from
        if event_ms < self._free_at.get(key, 0):
            return value
        r = self.rng.random()
        p = self._p_vehicle
        if r < p:
            return self._impossible_speed(Stream.VEHICLE, key, value, event_ms)
        if r < 2 * p:
            return self._jump(key, value, event_ms)
        if r < 3 * p:
            self._start_silence(key, event_ms)
        return value

    def _weather(self, key: str, value: str, event_ms: int) -> str:
        minute = event_ms // 60_000
        if minute != self._minute:
            self._minute, self._minute_reports, self._minute_has_outlier = minute, 0, False
        self._minute_reports += 1
        stuck = self._stuck.get(key)
        if stuck is not None:
            return self._repeat(key, value, event_ms, *stuck)
        frozen = self._after_stuck.pop(key, None)
        if frozen is not None:
            value = _unstick(value, frozen)
        if event_ms < self._free_at.get(key, 0):
            return value
        r = self.rng.random()
        p = self._p_weather
        if r < p:
            return self._start_stuck(key, value, event_ms)
        # Judged against the others' median: enough of them must report in this minute, and one outlier
        # a minute keeps that median the others' true weather.
        if r < 2 * p and not self._minute_has_outlier and self._minute_reports > MIN_NEIGHBOUR_REPORTS:
            return self._outlier(key, value, event_ms)
        return value

    # ---- the kinds ----------------------------------------------------------------------------------
    def _impossible_speed(self, stream: Stream, key: str, value: str, event_ms: int) -> str:
        data = json.loads(value)
        data["speed"] = round(self.rng.uniform(MAX_PLAUSIBLE_SPEED_KMH + 20, CONTRACT_MAX_SPEED_KMH - 10), 1)
        self.records.append(_record(IMPOSSIBLE_SPEED, stream, key, data["id"], event_ms))
        self._free_at[key] = event_ms + COOLDOWN_MS
        return _dumps(data)

    def _jump(self, key: str, value: str, event_ms: int) -> str:
        """Displace one fix; the next fix is back on the road, so it jumps back (recorded as related)."""
        data = json.loads(value)
        lat, lon = data["location"]
        # Far enough to break both limits from the previous fix and back to the next, with room to spare.
        least_m = max(MIN_JUMP_DISTANCE_M, MAX_IMPLIED_SPEED_KMH / 3.6 * self._fix_interval_s) * 3
        distance_m = self.rng.uniform(least_m, 2 * least_m)
        bearing = math.radians(self.rng.uniform(0, 360))
        dlat = distance_m * math.cos(bearing) / METRES_PER_DEG_LAT
        dlon = distance_m * math.sin(bearing) / (METRES_PER_DEG_LAT * math.cos(math.radians(lat)))
        data["location"] = [round(lat + dlat, 6), round(lon + dlon, 6)]
        record = _record(GPS_JUMP, Stream.VEHICLE, key, data["id"], event_ms)
        self.records.append(record)
        self._jumped[key] = record
        return _dumps(data)

    def _start_silence(self, key: str, event_ms: int) -> None:
        """This report is the vehicle's last one before it sends nothing on any stream for a few minutes."""
        duration_ms = int(self.rng.uniform(SILENCE_S + 60, SILENCE_S + 180) * 1000)
        record = _record(DEVICE_SILENT, Stream.VEHICLE, key, None, event_ms)
        record["start"] = record["event_time"]
        self._silent[key] = (event_ms + duration_ms, record)

    def _end_silence(self, key: str, event_ms: int) -> None:
        _, record = self._silent.pop(key)
        record["end"] = _iso(event_ms)
        self.records.append(record)
        self._free_at[key] = event_ms + COOLDOWN_MS

    def _start_stuck(self, key: str, value: str, event_ms: int) -> str:
        """This report's reading is repeated by the next ones: a run of STUCK_REPORTS to STUCK_REPORTS + 2."""
        data = json.loads(value)
        reading = {f: data[f] for f in READING_FIELDS}
        record = _record(STUCK_SENSOR, Stream.WEATHER, key, None, event_ms)
        record["start"] = record["event_time"]
        record["related_event_ids"].append(data["id"])
        self._stuck[key] = (reading, STUCK_REPORTS + self.rng.randrange(3) - 1, record)
        return value

    def _repeat(
        self, key: str, value: str, event_ms: int, reading: dict[str, Any], left: int, record: dict[str, Any]
    ) -> str:
        data = json.loads(value)
        data.update(reading)
        record["related_event_ids"].append(data["id"])
        record["end"] = _iso(event_ms)
        if len(record["related_event_ids"]) == STUCK_REPORTS:
            # The report that completes the run is the one a detector must flag.
            record["event_id"], record["event_time"] = data["id"], _iso(event_ms)
        if left > 1:
            self._stuck[key] = (reading, left - 1, record)
        else:
            del self._stuck[key]
            self.records.append(record)
            self._after_stuck[key] = float(reading["temperature"])
            self._free_at[key] = event_ms + COOLDOWN_MS
        return _dumps(data)

    def _outlier(self, key: str, value: str, event_ms: int) -> str:
        data = json.loads(value)
        temperature = float(data["temperature"])
        deviation = self.rng.uniform(MAX_TEMPERATURE_DEVIATION_C + 5, MAX_TEMPERATURE_DEVIATION_C + 10)
        warmer = temperature + deviation <= CONTRACT_MAX_TEMPERATURE_C and self.rng.random() < 0.5
        data["temperature"] = round(temperature + deviation if warmer else temperature - deviation, 1)
        self.records.append(_record(WEATHER_OUTLIER, Stream.WEATHER, key, data["id"], event_ms))
        self._minute_has_outlier = True
        self._free_at[key] = event_ms + COOLDOWN_MS
        return _dumps(data)

    # ---- end of run --------------------------------------------------------------------------------
    def finish(self) -> None:
        """Close what the run's end cut short: a stuck run long enough to be one is recorded as sent; a
        shorter one and a silence that never resumed are ``incomplete`` (a detector may flag them or not)."""
        for _reading, _left, record in self._stuck.values():
            done = len(record["related_event_ids"]) >= STUCK_REPORTS
            (self.records if done else self.incomplete).append(record)
        for _until, record in self._silent.values():
            self.incomplete.append(record)
        self._stuck.clear()
        self._silent.clear()
        self._jumped.clear()

    def manifest_section(self) -> dict[str, Any]:
        """What the manifest records: the injection rate, the anomalies, and those cut short by the end."""
        return {
            "anomaly_rate": self.config.rate,
            "anomalies": sorted(self.records, key=lambda r: (r["event_time"], r["kind"], r["device_id"])),
            "anomalies_incomplete": self.incomplete,
        }


def _event_id(value: str) -> str:
    return str(json.loads(value)["id"])


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def _unstick(value: str, frozen: float) -> str:
    """The first report after a stuck run must not repeat the stuck temperature by chance."""
    data = json.loads(value)
    if float(data["temperature"]) != frozen:
        return value
    data["temperature"] = round(frozen + 0.1, 1)
    return _dumps(data)
