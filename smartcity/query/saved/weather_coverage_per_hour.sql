-- Question: Per hour, how many enriched vehicle events found no weather report in their cell (and what share is that)?
-- Parameter: first_hour timestamp: the first UTC event hour read (its dt/hour partition; minutes are ignored)
-- Parameter: last_hour timestamp: the last UTC event hour read, included
SELECT
  dt,
  hour,
  count(*) AS events,
  count_if(weather_event_id IS NULL) AS without_weather,
  round(100 * CAST(count_if(weather_event_id IS NULL) AS DOUBLE) / count(*), 2) AS without_weather_pct
FROM vehicle_enriched
WHERE dt || ' ' || hour BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
  AND date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
GROUP BY dt, hour
ORDER BY dt, hour
