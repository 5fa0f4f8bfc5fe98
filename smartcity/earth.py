"""The Earth as every distance in the product takes it: a sphere (haversine distances)."""

from __future__ import annotations

# The mean Earth radius; the saved Athena query vehicles_near_active_incidents.sql writes it as 6371 too.
EARTH_RADIUS_KM = 6371.0
