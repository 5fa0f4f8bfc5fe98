-- Question: How many vehicle events, distinct events and distinct vehicles arrived in each hour (UTC)?
SELECT
  dt,
  hour,
  count(*) AS events,
  count(DISTINCT id) AS distinct_events,
  count(DISTINCT device_id) AS vehicles
FROM raw_vehicle
GROUP BY dt, hour
ORDER BY dt, hour
