-- Question: In which grid cells do vehicles most often exceed 80 km/h (top 20 cells by speeding events, distinct events only)?
-- Parameter: first_hour timestamp: the first UTC event hour read (its dt/hour partition; minutes are ignored)
-- Parameter: last_hour timestamp: the last UTC event hour read, included
SELECT
  cell_id,
  count(*) AS events,
  count_if(speed > 80) AS speeding_events,
  round(100 * CAST(count_if(speed > 80) AS DOUBLE) / count(*), 2) AS speeding_pct,
  round(max(speed), 1) AS max_speed_kmh
FROM vehicle_enriched
WHERE dt || ' ' || hour BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
  AND date_format(CAST(? AS timestamp), '%Y-%m-%d %H')
GROUP BY cell_id
ORDER BY speeding_events DESC, cell_id
LIMIT 20
