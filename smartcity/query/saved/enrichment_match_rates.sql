-- Question: Per hour, what share of enriched vehicle events matched a GPS fix, a weather report and at least one active incident nearby?
-- Parameter: first_hour timestamp: the first UTC event hour read (its dt/hour partition; minutes are ignored)
-- Parameter: last_hour timestamp: the last UTC event hour read, included
SELECT
  dt,
  hour,
  count(*) AS events,
  round(100 * CAST(count_if(gps_event_id IS NOT NULL) AS DOUBLE) / count(*), 2) AS gps_pct,
  round(100 * CAST(count_if(weather_event_id IS NOT NULL) AS DOUBLE) / count(*), 2) AS weather_pct,
  round(100 * CAST(count_if(incidents_within_radius > 0) AS DOUBLE) / count(*), 2) AS incident_pct
FROM vehicle_enriched
WHERE dt || ' ' || hour BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
  AND date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
GROUP BY dt, hour
ORDER BY dt, hour
