-- Redshift-only physical design, applied to the tables V001 created (ALTER ... DISTKEY/SORTKEY/ENCODE runs
-- inside a transaction for non-external tables).
-- fact_vehicle_telemetry: distributed on device_id so per-vehicle views (incident exposure, air quality)
-- join and aggregate without redistribution; sorted by event time so hourly views and the MERGE's
-- late-row lookups scan only the touched blocks. AZ64 for numbers, ZSTD for text; the sort and
-- distribution key columns keep Redshift's default encoding.
ALTER TABLE fact_vehicle_telemetry ALTER DISTSTYLE KEY DISTKEY device_id;
ALTER TABLE fact_vehicle_telemetry ALTER COMPOUND SORTKEY (event_hour, event_time);
ALTER TABLE fact_vehicle_telemetry ALTER COLUMN cell_id ENCODE zstd,
    ALTER COLUMN make ENCODE zstd, ALTER COLUMN model ENCODE zstd, ALTER COLUMN weather_condition ENCODE zstd,
    ALTER COLUMN speed ENCODE az64, ALTER COLUMN temperature ENCODE az64, ALTER COLUMN air_quality_index ENCODE az64;

-- Small dimensions are copied to every node so joins to the fact never move the fact.
ALTER TABLE dim_vehicle ALTER DISTSTYLE ALL;
ALTER TABLE dim_weather_station ALTER DISTSTYLE ALL;
ALTER TABLE fact_incident ALTER DISTSTYLE ALL;
ALTER TABLE fact_incident ALTER COMPOUND SORTKEY (first_reported_at);

ALTER TABLE etl_load_ledger ALTER COMPOUND SORTKEY (source_table, file_uri);
