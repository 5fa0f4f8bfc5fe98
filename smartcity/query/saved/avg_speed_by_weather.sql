-- Question: What is the average vehicle speed (km/h) under each weather condition, including vehicles with no weather report?
SELECT
  coalesce(weather_condition, 'no weather') AS weather_condition,
  count(*) AS events,
  round(avg(speed), 2) AS avg_speed_kmh
FROM vehicle_enriched
GROUP BY coalesce(weather_condition, 'no weather')
ORDER BY weather_condition
