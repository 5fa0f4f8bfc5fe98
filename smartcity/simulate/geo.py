"""Small spherical geometry for the simulator, on the same sphere as the streaming job (smartcity.earth)."""

from __future__ import annotations

import math

from smartcity.earth import EARTH_RADIUS_KM

COMPASS_POINTS = ("North", "North-East", "East", "South-East", "South", "South-West", "West", "North-West")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


def compass(bearing: float) -> str:
    """8-point compass name, as the contract's ``direction`` field expects."""
    return COMPASS_POINTS[int((bearing + 22.5) // 45) % 8]


def cell_of(lat: float, lon: float, size_deg: float) -> tuple[int, int]:
    """The grid cell ``(floor(lat/s), floor(lon/s))`` the streaming job writes as ``cell_id``."""
    return math.floor(lat / size_deg), math.floor(lon / size_deg)
