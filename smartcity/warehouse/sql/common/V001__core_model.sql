-- The warehouse model for BI, portable between PostgreSQL (local) and Redshift (AWS).
-- Column types are the contract's Redshift types (smartcity.contract.exporters.sql_type(c, "redshift")),
-- which PostgreSQL accepts unchanged: VARCHAR(n), DOUBLE PRECISION, INTEGER, BIGINT, TIMESTAMPTZ.
-- Redshift keeps PRIMARY KEY as planner metadata without enforcing it: uniqueness comes from the loader's MERGE, in both warehouses.
-- Column names and lengths of fact_vehicle_telemetry follow smartcity.contract.enriched_columns();
-- tests/unit/test_warehouse_model.py fails when the two drift apart.

-- One row per vehicle event id, with the GPS, weather and incident attributes the stream joined to it.
CREATE TABLE fact_vehicle_telemetry (
    event_id                     VARCHAR(256)     NOT NULL,
    device_id                    VARCHAR(256)     NOT NULL,
    event_time                   TIMESTAMPTZ      NOT NULL,
    event_hour                   TIMESTAMPTZ      NOT NULL,
    latitude                     DOUBLE PRECISION NOT NULL,
    longitude                    DOUBLE PRECISION NOT NULL,
    speed                        DOUBLE PRECISION NOT NULL,
    direction                    VARCHAR(256)     NOT NULL,
    make                         VARCHAR(256)     NOT NULL,
    model                        VARCHAR(256)     NOT NULL,
    year                         INTEGER          NOT NULL,
    fuel_type                    VARCHAR(256)     NOT NULL,
    cell_id                      VARCHAR(256)     NOT NULL,
    gps_event_id                 VARCHAR(256),
    gps_speed                    DOUBLE PRECISION,
    gps_direction                VARCHAR(256),
    vehicle_type                 VARCHAR(256),
    gps_time_delta_s             DOUBLE PRECISION,
    weather_event_id             VARCHAR(256),
    weather_station_id           VARCHAR(256),
    weather_time                 TIMESTAMPTZ,
    temperature                  DOUBLE PRECISION,
    weather_condition            VARCHAR(256),
    precipitation                DOUBLE PRECISION,
    wind_speed                   DOUBLE PRECISION,
    humidity                     DOUBLE PRECISION,
    air_quality_index            DOUBLE PRECISION,
    nearest_incident_id          VARCHAR(256),
    nearest_incident_type        VARCHAR(256),
    nearest_incident_distance_km DOUBLE PRECISION,
    incidents_within_radius      INTEGER          NOT NULL,
    load_id                      BIGINT           NOT NULL,
    PRIMARY KEY (event_id)
);

-- Type-1 vehicle dimension: the latest attributes seen, and the first/last time the vehicle was seen.
CREATE TABLE dim_vehicle (
    device_id    VARCHAR(256) NOT NULL,
    make         VARCHAR(256)  NOT NULL,
    model        VARCHAR(256)  NOT NULL,
    year         INTEGER      NOT NULL,
    fuel_type    VARCHAR(256)  NOT NULL,
    vehicle_type VARCHAR(256),
    first_seen   TIMESTAMPTZ  NOT NULL,
    last_seen    TIMESTAMPTZ  NOT NULL,
    load_id      BIGINT       NOT NULL,
    PRIMARY KEY (device_id)
);

-- Weather stations from raw_weather: the latest reported position and the period the station reported.
CREATE TABLE dim_weather_station (
    weather_station_id VARCHAR(256)     NOT NULL,
    latitude           DOUBLE PRECISION NOT NULL,
    longitude          DOUBLE PRECISION NOT NULL,
    cell_id            VARCHAR(256)      NOT NULL,
    first_seen         TIMESTAMPTZ      NOT NULL,
    last_seen          TIMESTAMPTZ      NOT NULL,
    load_id            BIGINT           NOT NULL,
    PRIMARY KEY (weather_station_id)
);

-- Accumulating snapshot, one row per incident id from raw_emergency: when it was first reported, its
-- latest report (status, type, place) and, once a report says so, when it was resolved.
CREATE TABLE fact_incident (
    incident_id        VARCHAR(256)      NOT NULL,
    incident_type      VARCHAR(256)      NOT NULL,
    status             VARCHAR(256)      NOT NULL,
    description        VARCHAR(65535),
    latitude           DOUBLE PRECISION NOT NULL,
    longitude          DOUBLE PRECISION NOT NULL,
    cell_id            VARCHAR(256)      NOT NULL,
    first_reported_at  TIMESTAMPTZ      NOT NULL,
    last_reported_at   TIMESTAMPTZ      NOT NULL,
    resolved_at        TIMESTAMPTZ,
    last_event_id      VARCHAR(256)      NOT NULL,
    load_id            BIGINT           NOT NULL,
    PRIMARY KEY (incident_id)
);

-- One row per successful load; written in the same transaction as the MERGEs it describes.
CREATE TABLE etl_load_run (
    load_id       BIGINT       NOT NULL,
    started_at    TIMESTAMPTZ  NOT NULL,
    finished_at   TIMESTAMPTZ  NOT NULL,
    runtime       VARCHAR(256)  NOT NULL,
    rows_read     BIGINT       NOT NULL,
    rows_inserted BIGINT       NOT NULL,
    rows_updated  BIGINT       NOT NULL,
    rows_skipped  BIGINT       NOT NULL,
    PRIMARY KEY (load_id)
);

-- The local stand-in for Glue job bookmarks: every lake file already merged, with the size and
-- modification time it had then. Written in the MERGE's transaction, so a crash loses or doubles nothing.
CREATE TABLE etl_load_ledger (
    source_table VARCHAR(256)  NOT NULL,
    file_uri     VARCHAR(1024) NOT NULL,
    size_bytes   BIGINT        NOT NULL,
    mtime_ns     BIGINT        NOT NULL,
    rows_read    BIGINT        NOT NULL,
    load_id      BIGINT        NOT NULL,
    PRIMARY KEY (source_table, file_uri)
);
