-- Question: How many vehicle passes, and how many distinct vehicles, did each traffic camera record per hour?
-- Parameter: first_hour timestamp: the first UTC event hour read (its dt/hour partition; minutes are ignored)
-- Parameter: last_hour timestamp: the last UTC event hour read, included
SELECT
  camera_id,
  dt,
  hour,
  count(*) AS passes,
  count(DISTINCT device_id) AS vehicles
FROM raw_traffic
WHERE dt || ' ' || hour BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
  AND date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
GROUP BY camera_id, dt, hour
ORDER BY camera_id, dt, hour
