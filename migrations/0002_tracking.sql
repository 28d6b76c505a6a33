-- Tracking state for ingestion.
--
-- Geofence visits, overspeed and idling episodes are a fold over each
-- truck's fixes in time order. Every stored fix keeps the fold's state after
-- it (track_state), so that a late fix can rewind to the fix before it and
-- fold forward again: visits come out the same whatever order the fixes
-- arrived in. trucks.track_state caches the state after the newest fix, for
-- the common in-order case.
ALTER TABLE vehicle_positions ADD COLUMN track_state jsonb;

ALTER TABLE trucks
    ADD COLUMN track_state    jsonb,
    ADD COLUMN track_state_at timestamptz;

-- The fix whose arrival confirmed the entry (5 minutes inside) or the exit
-- (5 minutes outside): what a rewind to an earlier fix must undo.
ALTER TABLE geofence_visits
    ADD COLUMN enter_confirmed_at timestamptz,
    ADD COLUMN exit_confirmed_at  timestamptz;
UPDATE geofence_visits SET enter_confirmed_at = entered_at WHERE enter_confirmed_at IS NULL;
ALTER TABLE geofence_visits ALTER COLUMN enter_confirmed_at SET NOT NULL;
CREATE INDEX geofence_visits_truck_idx ON geofence_visits (truck_id, enter_confirmed_at DESC);

-- published_at is the outbox mark: set once the alert's notification is in
-- the notifications stream, so a sweeper can publish what a crash left out.
ALTER TABLE alerts ADD COLUMN published_at timestamptz;
CREATE INDEX alerts_unpublished_idx ON alerts (created_at) WHERE published_at IS NULL;
CREATE INDEX alerts_open_idx ON alerts (truck_id, kind) WHERE ended_at IS NULL;

-- Trucks first seen in LocoNav data rather than the fleet's records.
CREATE INDEX trucks_unknown_idx ON trucks (created_at) WHERE status = 'unknown';

-- LocoNav may spell a plate its own way (T-11985-LA); fixes are matched on
-- the normalised spelling of loconav_number too.
CREATE INDEX trucks_loconav_number_idx ON trucks (upper(regexp_replace(loconav_number, '[^A-Za-z0-9]', '', 'g')))
    WHERE loconav_number <> '';

-- Which parser reads a raw event's body: location, alert or last_known.
ALTER TABLE raw_events ADD COLUMN family text NOT NULL DEFAULT '';
