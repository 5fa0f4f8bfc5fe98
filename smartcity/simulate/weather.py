"""A weather field coherent in space and time: a rain front sweeps across the map, temperatures follow
the day and the latitude, wind rises and humidity climbs inside the front, air quality worsens in still
air. Stations sample this one field (plus a little instrument noise), so neighbouring stations agree
and a station's readings change smoothly, which is what makes the weather join worth testing.

The front reaches the middle of the map within ``FRONT_ARRIVES_WITHIN_S`` of the run's start, whatever
the start time: a run of a few minutes already has a cloud shield, rain behind the front and dry air
further away, so each seed gives several weather conditions.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

SECONDS_PER_DAY = 86_400.0
FRONT_ARRIVES_WITHIN_S = 600.0


@dataclass
class FrontParams:
    """A straight front moving along ``heading`` at ``speed_kmh``, recurring every ``period_km``."""

    heading_deg: float
    speed_kmh: float
    period_km: float
    band_km: float
    peak_mm: float
    origin_lat: float
    origin_lon: float
    base_temp_c: float
    # Event time (epoch seconds) at which the front line crosses the origin; 0 in states saved before it
    # existed, which keeps their weather as it was.
    origin_s: float = 0.0

    @classmethod
    def draw(cls, rng: random.Random, lat: float, lon: float, start_s: float = 0.0) -> FrontParams:
        return cls(
            heading_deg=rng.uniform(0, 360),
            speed_kmh=rng.uniform(25, 50),
            period_km=rng.uniform(60, 120),
            band_km=rng.uniform(6, 15),
            peak_mm=rng.uniform(2, 8),
            origin_lat=lat,
            origin_lon=lon,
            base_temp_c=rng.uniform(4, 18),
            origin_s=start_s + rng.uniform(0, FRONT_ARRIVES_WITHIN_S),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class WeatherField:
    """Deterministic values at ``(lat, lon, t)``; noise comes from the caller's RNG."""

    def __init__(self, params: FrontParams) -> None:
        self.p = params
        h = math.radians(params.heading_deg)
        self._nx, self._ny = math.sin(h), math.cos(h)  # unit vector east, north
        self._km_per_deg_lat = 111.2
        self._km_per_deg_lon = 111.2 * math.cos(math.radians(params.origin_lat))

    def _front_distance_km(self, lat: float, lon: float, t_s: float) -> float:
        """Signed distance ahead of the nearest front line (negative = already passed, inside the rain)."""
        x = (lon - self.p.origin_lon) * self._km_per_deg_lon
        y = (lat - self.p.origin_lat) * self._km_per_deg_lat
        along = x * self._nx + y * self._ny - self.p.speed_kmh * (t_s - self.p.origin_s) / 3600.0
        half = self.p.period_km / 2
        return (along + half) % self.p.period_km - half

    def sample(
        self, lat: float, lon: float, t_s: float, rng: random.Random
    ) -> tuple[float, str, float, float, float, float]:
        """``(temperature °C, condition, precipitation mm, wind km/h, humidity %, AQI)``."""
        d = self._front_distance_km(lat, lon, t_s)
        band = self.p.band_km
        rain = math.exp(-((d + band / 2) ** 2) / (2 * (band / 2) ** 2))  # peaks just behind the front
        # Rain intensity breathes over a few hours, so the same front is sometimes heavier.
        pulse = 0.6 + 0.4 * math.sin(t_s / 7200.0)
        precipitation = max(0.0, self.p.peak_mm * rain * pulse + rng.gauss(0, 0.05))
        if precipitation < 0.1:
            precipitation = 0.0
        day_frac = (t_s % SECONDS_PER_DAY) / SECONDS_PER_DAY
        diurnal = 4.0 * math.sin(2 * math.pi * (day_frac - 0.375))  # warmest mid-afternoon
        # Cooler air behind the front, periodic like the front itself so there is no seam at the wrap.
        behind = 0.5 * (1.0 + math.cos(2 * math.pi * (d + band) / self.p.period_km))
        temperature = (
            self.p.base_temp_c
            + diurnal
            - 0.6 * (lat - self.p.origin_lat)
            - 2.0 * behind
            - 1.0 * rain
            + rng.gauss(0, 0.15)
        )
        wind = max(0.0, 8.0 + 30.0 * math.exp(-(d**2) / (2 * band**2)) + rng.gauss(0, 1.0))
        # The cloud shield runs ahead of the front (d > 0): humid, overcast, still dry.
        shield = math.exp(-d / (2 * band)) if d > 0 else 0.0
        humidity = min(100.0, max(0.0, 55.0 + 40.0 * rain + 30.0 * shield + rng.gauss(0, 1.5)))
        aqi = min(500.0, max(0.0, 25.0 + 60.0 * math.exp(-wind / 15.0) - 15.0 * rain + rng.gauss(0, 2.0)))
        if precipitation > 0.2:
            condition = "Snow" if temperature < 0.5 else "Rain"
        elif humidity > 72:
            condition = "Cloudy"
        else:
            condition = "Sunny"
        return temperature, condition, precipitation, wind, humidity, aqi
