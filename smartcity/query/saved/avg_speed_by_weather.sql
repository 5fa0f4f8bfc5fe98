-- Question: What is the average vehicle speed (km/h) under each weather condition, including vehicles with no weather report?
-- Parameter: first_hour timestamp: the first UTC event hour read (its dt/hour partition; minutes are ignored)
-- Parameter: last_hour timestamp: the last UTC event hour read, included
SELECT
  coalesce(weather_condition, 'no weather') AS weather_condition,
  count(*) AS events,
  round(avg(speed), 2) AS avg_speed_kmh
FROM vehicle_enriched
WHERE dt || ' ' || hour BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
  AND date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
GROUP BY coalesce(weather_condition, 'no weather')
ORDER BY weather_condition
