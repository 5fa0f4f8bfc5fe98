-- Question: How many vehicle events arrived in each hour (UTC), and from how many distinct vehicles?
-- Parameter: first_hour timestamp: the first UTC event hour read (its dt/hour partition; minutes are ignored)
-- Parameter: last_hour timestamp: the last UTC event hour read, included
SELECT
  dt,
  hour,
  count(*) AS events,
  count(DISTINCT device_id) AS vehicles
FROM raw_vehicle
WHERE dt || ' ' || hour BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
  AND date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
GROUP BY dt, hour
ORDER BY dt, hour
