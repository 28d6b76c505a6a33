-- Trips that follow themselves. Each milestone keeps its fix time; the
-- existing actual_departure, arrived_at and offloaded_at are the "departed
-- pickup", "at delivery" and "delivered" milestones. trip_events is the
-- outbox of what the alert channel is told, once per event.
ALTER TABLE trips
    ADD COLUMN at_pickup_at    timestamptz,
    ADD COLUMN returned_at     timestamptz,
    ADD COLUMN milestone       text NOT NULL DEFAULT 'scheduled'
        CHECK (milestone IN ('scheduled', 'at_pickup', 'departed', 'at_delivery', 'delivered', 'returned', 'closed')),
    ADD COLUMN planned_arrival timestamptz,
    ADD COLUMN eta             timestamptz,
    ADD COLUMN delayed_since   timestamptz,
    ADD COLUMN delay_reason    text NOT NULL DEFAULT '',
    -- LocoNav's own view of the trip, as its GET /trips last said.
    ADD COLUMN loconav_status  text NOT NULL DEFAULT '',
    -- The trip's message in the alert channel, which its events thread under.
    ADD COLUMN slack_channel   text NOT NULL DEFAULT '',
    ADD COLUMN slack_ts        text NOT NULL DEFAULT '';

CREATE INDEX trips_following_idx ON trips (truck_id) WHERE closed_at IS NULL AND status <> 'cancelled';

CREATE TABLE trip_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trip_id    bigint NOT NULL REFERENCES trips (id),
    kind       text NOT NULL,
    -- The nth event of its kind for the trip (a delay may start twice).
    seq        integer NOT NULL DEFAULT 1,
    at         timestamptz NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    posted_at  timestamptz,
    UNIQUE (trip_id, kind, seq)
);
CREATE INDEX trip_events_unposted_idx ON trip_events (id) WHERE posted_at IS NULL;
