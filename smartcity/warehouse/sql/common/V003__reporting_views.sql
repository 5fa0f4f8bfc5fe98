-- Reporting views. Four answer exactly the question of an Athena saved query over vehicle_enriched
-- (smartcity/query/saved/<name>.sql, named per view) with the same columns and rounding, so a dashboard can
-- move between Athena and the warehouse; tests/integration/test_warehouse_views.py checks the numbers.
-- Portable SQL only (PostgreSQL and Redshift): CASE instead of count_if/FILTER, ROUND on NUMERIC.

-- Saved query avg_speed_by_weather.
CREATE VIEW v_avg_speed_by_weather AS
SELECT
    COALESCE(weather_condition, 'no weather')         AS weather_condition,
    COUNT(*)                                          AS events,
    ROUND(CAST(AVG(speed) AS NUMERIC(18, 6)), 2)      AS avg_speed_kmh
FROM fact_vehicle_telemetry
GROUP BY COALESCE(weather_condition, 'no weather');

-- Saved query air_quality_exposure.
CREATE VIEW v_air_quality_exposure AS
SELECT
    device_id,
    COUNT(*)                                                   AS events_with_aqi,
    ROUND(CAST(AVG(air_quality_index) AS NUMERIC(18, 6)), 2)   AS avg_aqi,
    MAX(air_quality_index)                                     AS max_aqi,
    SUM(CASE WHEN air_quality_index > 150 THEN 1 ELSE 0 END)   AS unhealthy_events
FROM fact_vehicle_telemetry
WHERE air_quality_index IS NOT NULL
GROUP BY device_id;

-- Saved query speeding_hotspots (which keeps the top 20 by speeding_events DESC, cell_id).
CREATE VIEW v_speeding_hotspots AS
SELECT
    cell_id,
    COUNT(*)                                                   AS events,
    SUM(CASE WHEN speed > 80 THEN 1 ELSE 0 END)                AS speeding_events,
    ROUND(CAST(100.0 * SUM(CASE WHEN speed > 80 THEN 1 ELSE 0 END) / COUNT(*) AS NUMERIC(18, 6)), 2)
                                                               AS speeding_pct,
    ROUND(CAST(MAX(speed) AS NUMERIC(18, 6)), 1)               AS max_speed_kmh
FROM fact_vehicle_telemetry
GROUP BY cell_id;

-- Saved query weather_coverage_per_hour (its dt/hour partitions are the UTC hour of event_time).
CREATE VIEW v_weather_coverage_per_hour AS
SELECT
    event_hour                                                        AS hour,
    COUNT(*)                                                          AS events,
    SUM(CASE WHEN weather_event_id IS NULL THEN 1 ELSE 0 END)         AS without_weather,
    ROUND(CAST(100.0 * SUM(CASE WHEN weather_event_id IS NULL THEN 1 ELSE 0 END) / COUNT(*)
               AS NUMERIC(18, 6)), 2)                                 AS without_weather_pct
FROM fact_vehicle_telemetry
GROUP BY event_hour;

-- Hourly traffic and speed per grid cell and weather condition (NULL condition: no weather matched).
CREATE VIEW v_hourly_traffic_by_cell_weather AS
SELECT
    event_hour                                      AS hour,
    cell_id,
    weather_condition,
    COUNT(*)                                        AS events,
    COUNT(DISTINCT device_id)                       AS vehicles,
    AVG(speed)                                      AS avg_speed_kmh,
    MAX(speed)                                      AS max_speed_kmh,
    SUM(CASE WHEN speed > 80 THEN 1 ELSE 0 END)     AS speeding_events
FROM fact_vehicle_telemetry
GROUP BY event_hour, cell_id, weather_condition;

-- Incident exposure per vehicle: how often and how close each vehicle came to an active incident, with
-- the vehicle's attributes from dim_vehicle.
CREATE VIEW v_incident_exposure_by_vehicle AS
SELECT
    f.device_id,
    v.make,
    v.model,
    v.vehicle_type,
    COUNT(*)                                     AS exposed_events,
    COUNT(DISTINCT f.nearest_incident_id)        AS incidents,
    MIN(f.nearest_incident_distance_km)          AS closest_km,
    MAX(f.incidents_within_radius)               AS max_incidents_in_radius,
    MIN(f.event_time)                            AS first_exposed_at,
    MAX(f.event_time)                            AS last_exposed_at
FROM fact_vehicle_telemetry f
LEFT JOIN dim_vehicle v ON v.device_id = f.device_id
WHERE f.nearest_incident_id IS NOT NULL
GROUP BY f.device_id, v.make, v.model, v.vehicle_type;
