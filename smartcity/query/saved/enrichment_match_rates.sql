-- Question: Per hour, what share of enriched vehicle events matched a GPS fix, a weather report and at least one active incident nearby?
SELECT
  dt,
  hour,
  count(*) AS events,
  round(100 * CAST(count_if(gps_event_id IS NOT NULL) AS DOUBLE) / count(*), 2) AS gps_pct,
  round(100 * CAST(count_if(weather_event_id IS NOT NULL) AS DOUBLE) / count(*), 2) AS weather_pct,
  round(100 * CAST(count_if(incidents_within_radius > 0) AS DOUBLE) / count(*), 2) AS incident_pct
FROM vehicle_enriched
GROUP BY dt, hour
ORDER BY dt, hour
