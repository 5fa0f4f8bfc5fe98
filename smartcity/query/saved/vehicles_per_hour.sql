-- Question: How many vehicle events arrived in each hour (UTC), and from how many distinct vehicles?
SELECT
  dt,
  hour,
  count(*) AS events,
  count(DISTINCT device_id) AS vehicles
FROM raw_vehicle
GROUP BY dt, hour
ORDER BY dt, hour
