-- Question: How many vehicle passes, and how many distinct vehicles, did each traffic camera record per hour?
SELECT
  camera_id,
  dt,
  hour,
  count(*) AS passes,
  count(DISTINCT device_id) AS vehicles
FROM raw_traffic
GROUP BY camera_id, dt, hour
ORDER BY camera_id, dt, hour
