-- PostgreSQL-only physical design: B-tree indexes for the views' filters and joins (Redshift has none;
-- its V002 sets sort and distribution keys instead), and UNLOGGED staging tables: COPY into them writes no
-- WAL, and their content is scratch that every load truncates first, so losing it in a crash costs nothing.
CREATE INDEX ix_fact_vehicle_telemetry_hour ON fact_vehicle_telemetry (event_hour, cell_id);
CREATE INDEX ix_fact_vehicle_telemetry_device ON fact_vehicle_telemetry (device_id, event_time);
CREATE INDEX ix_fact_vehicle_telemetry_incident ON fact_vehicle_telemetry (nearest_incident_id);

CREATE UNLOGGED TABLE stg_fact_vehicle_telemetry (LIKE fact_vehicle_telemetry);
CREATE UNLOGGED TABLE stg_dim_vehicle (LIKE dim_vehicle);
CREATE UNLOGGED TABLE stg_dim_weather_station (LIKE dim_weather_station);
CREATE UNLOGGED TABLE stg_fact_incident (LIKE fact_incident);
-- LIKE copies NOT NULL; load_id is only known when the MERGE runs, so staging rows have none.
ALTER TABLE stg_fact_vehicle_telemetry ALTER COLUMN load_id DROP NOT NULL;
ALTER TABLE stg_dim_vehicle ALTER COLUMN load_id DROP NOT NULL;
ALTER TABLE stg_dim_weather_station ALTER COLUMN load_id DROP NOT NULL;
ALTER TABLE stg_fact_incident ALTER COLUMN load_id DROP NOT NULL;
