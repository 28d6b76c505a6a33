-- API keys for the fleet's other systems. Only a SHA-256 of the key is kept:
-- the key itself is shown once, when it is created. A key is never deleted,
-- only revoked, so the audit log's "apikey:NAME" always names a row.
CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    role         text NOT NULL CHECK (role IN ('viewer', 'dispatcher', 'admin')),
    prefix       text NOT NULL,           -- the key's first characters, to tell keys apart in a list
    hash         bytea NOT NULL UNIQUE,   -- sha256 of the whole key
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- One live key per name: a name in the audit log means one program.
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;
