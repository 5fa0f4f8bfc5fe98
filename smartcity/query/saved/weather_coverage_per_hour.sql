-- Question: Per hour, how many enriched vehicle events found no weather report in their cell (and what share is that)?
SELECT
  dt,
  hour,
  count(*) AS events,
  count_if(weather_event_id IS NULL) AS without_weather,
  round(100 * CAST(count_if(weather_event_id IS NULL) AS DOUBLE) / count(*), 2) AS without_weather_pct
FROM vehicle_enriched
GROUP BY dt, hour
ORDER BY dt, hour
