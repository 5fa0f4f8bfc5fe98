-- Question: How many anomalies did each detector rule raise per hour (UTC event time), on how many devices, and which devices for example?
-- Parameter: first_hour timestamp: the first UTC event hour read (its dt/hour partition; minutes are ignored)
-- Parameter: last_hour timestamp: the last UTC event hour read, included
SELECT
  rule,
  dt,
  hour,
  count(*) AS anomalies,
  count(DISTINCT device_id) AS devices,
  array_join(slice(array_sort(array_agg(DISTINCT device_id)), 1, 3), ', ') AS example_devices
FROM anomalies
WHERE dt || ' ' || hour BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
  AND date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
GROUP BY rule, dt, hour
ORDER BY rule, dt, hour
