-- Question: What air quality was each vehicle exposed to (mean and worst AQI of its matched weather reports, and how many of its events were in unhealthy air, AQI > 150)?
-- Parameter: first_hour timestamp: the first UTC event hour read (its dt/hour partition; minutes are ignored)
-- Parameter: last_hour timestamp: the last UTC event hour read, included
SELECT
  device_id,
  count(*) AS events_with_aqi,
  round(avg(air_quality_index), 2) AS avg_aqi,
  max(air_quality_index) AS max_aqi,
  count_if(air_quality_index > 150) AS unhealthy_events
FROM vehicle_enriched
WHERE dt || ' ' || hour BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
  AND date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
  AND air_quality_index IS NOT NULL
GROUP BY device_id
ORDER BY avg_aqi DESC, device_id
