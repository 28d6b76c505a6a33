-- The Google Sheets sync. Rows gone from the sheet are deactivated, never
-- deleted (trips and history still point at them); a row that comes back is
-- active again. Trucks say it with their status ('inactive').
ALTER TABLE organizations ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE locations     ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE drivers       ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE users         ADD COLUMN active boolean NOT NULL DEFAULT true;

ALTER TABLE sync_status
    ADD COLUMN rows_changed     integer NOT NULL DEFAULT 0,
    ADD COLUMN rows_deactivated integer NOT NULL DEFAULT 0,
    ADD COLUMN duration_ms      integer NOT NULL DEFAULT 0,
    -- The bad rows of the last sync, and a hash of them: the admins are told
    -- of a distinct set of problems once, not every 15 minutes.
    ADD COLUMN problems         jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN problems_hash    text NOT NULL DEFAULT '',
    ADD COLUMN notified_hash    text NOT NULL DEFAULT '';
