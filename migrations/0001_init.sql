-- Watch Tower base schema: master data (organizations, locations, trucks,
-- drivers, users), operations (trips, geofence visits, alerts), telemetry
-- (vehicle_positions, raw_events) and bookkeeping (events, daily_metrics,
-- sync_status).
--
-- PostGIS lives in the public schema so that tests can run the migrations in
-- a schema of their own and still see its types.
CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public;

CREATE TABLE organizations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (btrim(name) <> ''),
    kind          text NOT NULL CHECK (kind IN ('client', 'transporter')),
    contact_name  text NOT NULL DEFAULT '',
    contact_phone text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_name_key ON organizations (lower(name));

CREATE TABLE locations (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code               text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9_]+$'),
    name               text NOT NULL CHECK (btrim(name) <> ''),
    kind               text NOT NULL CHECK (kind IN ('terminal', 'client', 'depot', 'service_area')),
    organization_id    bigint REFERENCES organizations (id),
    address            text NOT NULL DEFAULT '',
    center             geography(Point, 4326) NOT NULL,
    -- radius_m is set when the geofence was given as a circle; the circle is
    -- then also stored, approximated, as the boundary polygon so that every
    -- containment query reads one column.
    radius_m           integer CHECK (radius_m BETWEEN 50 AND 300),
    boundary           geography(Polygon, 4326) NOT NULL,
    loconav_polygon_id bigint UNIQUE,
    aliases            text[] NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX locations_boundary_idx ON locations USING gist (boundary);
CREATE INDEX locations_name_idx ON locations (lower(name));

CREATE TABLE trucks (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- number is always the normalised form (upper case, letters and digits).
    number                text NOT NULL UNIQUE CHECK (number ~ '^[A-Z0-9]+$'),
    loconav_uuid          uuid UNIQUE,
    loconav_number        text NOT NULL DEFAULT '',
    organization_id       bigint REFERENCES organizations (id),
    fleet_manager         text NOT NULL DEFAULT '',
    status                text NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'maintenance', 'inactive', 'unknown')),
    brand                 text NOT NULL DEFAULT '',
    trailer_size          text NOT NULL DEFAULT '' CHECK (trailer_size IN ('', '20ft', '40ft')),
    operating_location_id bigint REFERENCES locations (id),
    position              geography(Point, 4326),
    position_at           timestamptz,
    speed_kmh             real,
    heading               real,
    ignition              boolean,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK ((position IS NULL) = (position_at IS NULL))
);
CREATE INDEX trucks_position_idx ON trucks USING gist (position);
-- Lets "11985" find T11985LA when the digits are unique.
CREATE INDEX trucks_number_digits_idx ON trucks (regexp_replace(number, '[^0-9]', '', 'g'));

CREATE TABLE drivers (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL CHECK (btrim(name) <> ''),
    phone          text NOT NULL UNIQUE CHECK (phone ~ '^\+[0-9]{8,15}$'),
    has_smartphone boolean NOT NULL DEFAULT false,
    truck_id       bigint UNIQUE REFERENCES trucks (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    slack_user_id text PRIMARY KEY CHECK (slack_user_id ~ '^[UW][A-Z0-9]{2,}$'),
    display_name  text NOT NULL DEFAULT '',
    role          text NOT NULL CHECK (role IN ('viewer', 'dispatcher', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE trips (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The fleet's own trip id, e.g. 01/Apr/2025-T11985LA-CA60.
    vpc_id               text NOT NULL UNIQUE,
    loconav_trip_id      bigint UNIQUE,
    truck_id             bigint NOT NULL REFERENCES trucks (id),
    driver_id            bigint REFERENCES drivers (id),
    client_id            bigint REFERENCES organizations (id),
    pickup_id            bigint NOT NULL REFERENCES locations (id),
    delivery_id          bigint NOT NULL REFERENCES locations (id),
    container_no         text NOT NULL DEFAULT '',
    cargo_type           text NOT NULL DEFAULT '',
    weight_kg            numeric(10, 1) CHECK (weight_kg >= 0),
    status               text NOT NULL DEFAULT 'planned'
                         CHECK (status IN ('planned', 'ongoing', 'delayed', 'completed', 'unsuccessful', 'cancelled')),
    tracking_url         text NOT NULL DEFAULT '',
    scheduled_departure  timestamptz NOT NULL,
    actual_departure     timestamptz,
    arrived_at           timestamptz,
    offloaded_at         timestamptz,
    created_by           text NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trips_truck_idx ON trips (truck_id, scheduled_departure DESC);
CREATE INDEX trips_status_idx ON trips (status) WHERE status IN ('planned', 'ongoing', 'delayed');

-- vehicle_positions is partitioned by day so that retention is a partition
-- drop rather than a vacuum-heavy DELETE. Partitions are created ahead of time
-- and on demand by ensure_position_partition. There is no foreign key to
-- trucks: trucks are never deleted, and the key check would cost on every row
-- of the hottest insert path.
CREATE TABLE vehicle_positions (
    truck_id    bigint NOT NULL,
    fix_time    timestamptz NOT NULL,
    position    geography(Point, 4326) NOT NULL,
    speed_kmh   real,
    heading     real,
    ignition    boolean,
    source      text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (truck_id, fix_time)
) PARTITION BY RANGE (fix_time);

-- ensure_position_partition creates the partition holding the UTC day d if
-- it is missing, and returns its name.
CREATE FUNCTION ensure_position_partition(d date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    part text := format('vehicle_positions_%s', to_char(d, 'YYYYMMDD'));
BEGIN
    IF to_regclass(quote_ident(part)) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF vehicle_positions FOR VALUES FROM (%L) TO (%L)',
            part, (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
    END IF;
    RETURN part;
END;
$$;

CREATE TABLE geofence_visits (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    truck_id    bigint NOT NULL REFERENCES trucks (id),
    location_id bigint NOT NULL REFERENCES locations (id),
    trip_id     bigint REFERENCES trips (id),
    entered_at  timestamptz NOT NULL,
    exited_at   timestamptz,
    CHECK (exited_at IS NULL OR exited_at >= entered_at),
    UNIQUE (truck_id, location_id, entered_at)
);
-- At most one open visit per truck and place.
CREATE UNIQUE INDEX geofence_visits_open_key ON geofence_visits (truck_id, location_id) WHERE exited_at IS NULL;
CREATE INDEX geofence_visits_location_idx ON geofence_visits (location_id, entered_at DESC);

CREATE TABLE alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    truck_id         bigint NOT NULL REFERENCES trucks (id),
    trip_id          bigint REFERENCES trips (id),
    location_id      bigint REFERENCES locations (id),
    kind             text NOT NULL,
    source           text NOT NULL CHECK (source IN ('loconav', 'rule')),
    severity         text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
    -- dedup_key names the episode (e.g. overspeed:42:2024-02-05T12:30:45Z) so
    -- that one episode is one alert however many fixes or retries report it.
    dedup_key        text NOT NULL UNIQUE,
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    position         geography(Point, 4326),
    details          jsonb NOT NULL DEFAULT '{}',
    notified_at      timestamptz,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_truck_idx ON alerts (truck_id, started_at DESC);
CREATE INDEX alerts_unnotified_idx ON alerts (created_at) WHERE notified_at IS NULL;

-- events is the append-only audit log: who did what, with the payload and a
-- correlation id that ties a Slack request to everything it caused.
CREATE TABLE events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL,
    action         text NOT NULL,
    subject        text NOT NULL DEFAULT '',
    payload        jsonb NOT NULL DEFAULT '{}',
    correlation_id text NOT NULL DEFAULT ''
);
CREATE INDEX events_correlation_idx ON events (correlation_id) WHERE correlation_id <> '';
CREATE INDEX events_occurred_idx ON events (occurred_at DESC);

CREATE FUNCTION events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only';
END;
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- raw_events keeps every accepted LocoNav payload byte for byte: the record
-- that `watchtower replay` rebuilds from.
CREATE TABLE raw_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id    text NOT NULL UNIQUE,
    source       text NOT NULL,
    kind         text NOT NULL,
    truck_number text NOT NULL DEFAULT '',
    event_time   timestamptz,
    received_at  timestamptz NOT NULL,
    body         bytea NOT NULL
);
CREATE INDEX raw_events_received_idx ON raw_events (received_at);

CREATE TABLE daily_metrics (
    day                date NOT NULL,
    truck_id           bigint NOT NULL REFERENCES trucks (id),
    distance_km        double precision NOT NULL DEFAULT 0,
    moving_minutes     double precision NOT NULL DEFAULT 0,
    idle_minutes       double precision NOT NULL DEFAULT 0,
    trips_completed    integer NOT NULL DEFAULT 0,
    turnaround_minutes double precision,
    computed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, truck_id)
);

CREATE TABLE sync_status (
    source            text PRIMARY KEY,
    last_started_at   timestamptz,
    last_succeeded_at timestamptz,
    last_error        text NOT NULL DEFAULT '',
    rows_read         integer NOT NULL DEFAULT 0,
    rows_rejected     integer NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
