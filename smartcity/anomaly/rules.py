"""The anomaly kinds and their limits: the one place the detector, the simulator's injection, the
``anomalies`` table and the scoring against the simulator's manifest take them from.

An anomaly is a flag, never a drop: the flagged event stays in its raw table. Limits are inclusive on
the plausible side (a reading exactly at a limit is plausible).
"""

from __future__ import annotations

from typing import Final

# Kinds, as written to the ``rule`` column of the anomalies table and to the simulator's manifest.
IMPOSSIBLE_SPEED: Final = "impossible_speed"
GPS_JUMP: Final = "gps_jump"
STUCK_SENSOR: Final = "stuck_sensor"
WEATHER_OUTLIER: Final = "weather_outlier"
DEVICE_SILENT: Final = "device_silent"
ANOMALY_KINDS: Final = (IMPOSSIBLE_SPEED, GPS_JUMP, STUCK_SENSOR, WEATHER_OUTLIER, DEVICE_SILENT)

# A reported speed above this is impossible for a city vehicle (km/h).
MAX_PLAUSIBLE_SPEED_KMH: Final = 250.0
# Two consecutive fixes of one device implying a speed above this are a GPS jump (km/h) ...
MAX_IMPLIED_SPEED_KMH: Final = 250.0
# ... provided they are at least this far apart (metres): GPS noise over a short interval is not a jump.
MIN_JUMP_DISTANCE_M: Final = 500.0
# A weather station whose readings are identical this many reports in a row is stuck.
STUCK_REPORTS: Final = 5
# A temperature further than this from the median of the other stations' reports in the same minute
# is an outlier (degrees Celsius); judged only when at least MIN_NEIGHBOUR_REPORTS others reported.
MAX_TEMPERATURE_DEVIATION_C: Final = 12.0
MIN_NEIGHBOUR_REPORTS: Final = 2
# A vehicle that sent nothing for this long (event time) while the city's watermark moved on is silent.
SILENCE_S: Final = 120.0

# The anomalies table (lake folder ``ANOMALIES_TABLE`` in smartcity.lake_layout, partitioned by dt/hour of
# ``event_time`` like the raw tables): one row per flag, column → Spark SQL type. ``anomaly_id`` is
# derived from (rule, device_id, event_id or silence start), so a replayed step writes the same ids;
# ``event_id`` is null for a silence (no event carries it); ``evidence`` is JSON with the measured
# values and the limit they broke.
ANOMALY_COLUMNS: Final = {
    "anomaly_id": "string",
    "rule": "string",
    "stream": "string",
    "device_id": "string",
    "event_id": "string",
    "event_time": "timestamp",
    "latitude": "double",
    "longitude": "double",
    "evidence": "string",
}
