-- Question: How fresh is each table: the latest event time (ingest time for quarantine) and how many seconds before now it is?
-- Parameter: first_day date: the first UTC day read (the dt partition: event day, ingest day for quarantine)
-- Parameter: last_day date: the last UTC day read, included
WITH times AS (
  SELECT 'raw_vehicle' AS table_name, event_time AS row_time, dt FROM raw_vehicle
  UNION ALL SELECT 'raw_gps', event_time, dt FROM raw_gps
  UNION ALL SELECT 'raw_traffic', event_time, dt FROM raw_traffic
  UNION ALL SELECT 'raw_weather', event_time, dt FROM raw_weather
  UNION ALL SELECT 'raw_emergency', event_time, dt FROM raw_emergency
  UNION ALL SELECT 'vehicle_enriched', event_time, dt FROM vehicle_enriched
  UNION ALL SELECT 'quarantine', ingest_time, dt FROM quarantine
),
latest AS (
  SELECT table_name, max(row_time) AS latest_time
  FROM times
  WHERE dt BETWEEN CAST(CAST(? AS date) AS varchar) AND CAST(CAST(? AS date) AS varchar)
  GROUP BY table_name
)
SELECT
  t.table_name,
  l.latest_time,
  date_diff('second', l.latest_time, current_timestamp) AS lag_seconds
FROM (
  VALUES 'raw_vehicle', 'raw_gps', 'raw_traffic', 'raw_weather', 'raw_emergency', 'vehicle_enriched', 'quarantine'
) AS t (table_name)
LEFT JOIN latest l ON l.table_name = t.table_name
ORDER BY t.table_name
