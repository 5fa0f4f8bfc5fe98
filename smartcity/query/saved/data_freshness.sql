-- Question: How fresh is each table: the latest event time (ingest time for quarantine) and how many seconds before now it is?
WITH latest AS (
  SELECT 'raw_vehicle' AS table_name, max(event_time) AS latest_time FROM raw_vehicle
  UNION ALL SELECT 'raw_gps', max(event_time) FROM raw_gps
  UNION ALL SELECT 'raw_traffic', max(event_time) FROM raw_traffic
  UNION ALL SELECT 'raw_weather', max(event_time) FROM raw_weather
  UNION ALL SELECT 'raw_emergency', max(event_time) FROM raw_emergency
  UNION ALL SELECT 'vehicle_enriched', max(event_time) FROM vehicle_enriched
  UNION ALL SELECT 'quarantine', max(ingest_time) FROM quarantine
)
SELECT
  table_name,
  latest_time,
  date_diff('second', latest_time, current_timestamp) AS lag_seconds
FROM latest
ORDER BY table_name
