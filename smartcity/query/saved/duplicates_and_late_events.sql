-- Question: Per stream, how many rows are re-deliveries of an event id already seen, and how many arrived late (ingested more than 5 minutes after their event time)?
-- Parameter: first_hour timestamp: the first UTC event hour read (its dt/hour partition; minutes are ignored)
-- Parameter: last_hour timestamp: the last UTC event hour read, included
WITH events AS (
  SELECT 'vehicle' AS stream, id, event_time, ingest_time, dt, hour FROM raw_vehicle
  UNION ALL SELECT 'gps', id, event_time, ingest_time, dt, hour FROM raw_gps
  UNION ALL SELECT 'traffic', id, event_time, ingest_time, dt, hour FROM raw_traffic
  UNION ALL SELECT 'weather', id, event_time, ingest_time, dt, hour FROM raw_weather
  UNION ALL SELECT 'emergency', id, event_time, ingest_time, dt, hour FROM raw_emergency
)
SELECT
  stream,
  count(*) AS rows_stored,
  count(DISTINCT id) AS distinct_events,
  count(*) - count(DISTINCT id) AS duplicate_rows,
  count_if(ingest_time > event_time + INTERVAL '5' MINUTE) AS late_rows
FROM events
WHERE dt || ' ' || hour BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
  AND date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
GROUP BY stream
ORDER BY stream
