-- Question: Which vehicles passed within 2 km of an active incident in the last hour (both reported in the hour before now), and how close did they get?
WITH incidents AS (
  SELECT incident_id, latitude, longitude
  FROM raw_emergency
  WHERE status = 'Active'
    AND event_time > current_timestamp - INTERVAL '1' HOUR
    AND event_time <= current_timestamp
    AND dt >= date_format(current_timestamp - INTERVAL '1' HOUR, '%Y-%m-%d')
),
vehicles AS (
  SELECT device_id, latitude, longitude
  FROM raw_vehicle
  WHERE event_time > current_timestamp - INTERVAL '1' HOUR
    AND event_time <= current_timestamp
    AND dt >= date_format(current_timestamp - INTERVAL '1' HOUR, '%Y-%m-%d')
),
pairs AS (
  SELECT
    v.device_id,
    i.incident_id,
    2 * 6371 * asin(sqrt(
      power(sin(radians(i.latitude - v.latitude) / 2), 2)
      + cos(radians(v.latitude)) * cos(radians(i.latitude)) * power(sin(radians(i.longitude - v.longitude) / 2), 2)
    )) AS distance_km
  FROM vehicles v
  CROSS JOIN incidents i
)
SELECT
  device_id,
  count(DISTINCT incident_id) AS incidents,
  round(min(distance_km), 3) AS closest_km
FROM pairs
WHERE distance_km <= 2.0
GROUP BY device_id
ORDER BY closest_km, device_id
