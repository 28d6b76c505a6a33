-- What the bot's tools need: typo-tolerant names (pg_trgm, which ships with
-- PostgreSQL; in public like PostGIS so test schemas see it), and trips
-- that remember how far LocoNav has them and who last set their status.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

CREATE INDEX locations_name_trgm_idx ON locations USING gin (lower(name) public.gin_trgm_ops);
CREATE INDEX drivers_name_trgm_idx ON drivers USING gin (lower(name) public.gin_trgm_ops);

ALTER TABLE trips
    -- '' LocoNav not wanted (no token), 'pending' not yet sent, 'failed'
    -- sent and refused or unreachable (retried by a job), 'synced'.
    ADD COLUMN loconav_state           text NOT NULL DEFAULT ''
        CHECK (loconav_state IN ('', 'pending', 'failed', 'synced')),
    ADD COLUMN loconav_error           text NOT NULL DEFAULT '',
    ADD COLUMN loconav_attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN loconav_next_attempt_at timestamptz,
    ADD COLUMN closed_at               timestamptz,
    ADD COLUMN cancel_reason           text NOT NULL DEFAULT '',
    -- The last status change was a person's: automatic progress never
    -- undoes it.
    ADD COLUMN status_manual           boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT trips_places_differ CHECK (pickup_id <> delivery_id);

CREATE INDEX trips_loconav_due_idx ON trips (loconav_next_attempt_at)
    WHERE loconav_state IN ('pending', 'failed');
CREATE INDEX trips_departure_idx ON trips (scheduled_departure DESC);
