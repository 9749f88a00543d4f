-- Times are unix microseconds (BIGINT) in both dialects, so one set of queries serves both.
CREATE TABLE workspaces (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    key_prefix          TEXT NOT NULL,
    key_limit           INTEGER NOT NULL,
    rate_limit          INTEGER,
    rate_window_seconds INTEGER,
    -- version is the sequence number of the newest change; bumping it takes the row lock that
    -- orders a workspace's changes and guards its key limit.
    version             BIGINT NOT NULL DEFAULT 0,
    -- active_keys counts keys neither revoked nor replaced, kept in step by every mutation so the
    -- key limit is checked in the same statement that takes the lock, without a count(*).
    active_keys         INTEGER NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces (id),
    hash                BLOB NOT NULL UNIQUE,
    prefix              TEXT NOT NULL,
    name                TEXT NOT NULL,
    type                TEXT NOT NULL,
    environment         TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    external_id         TEXT NOT NULL DEFAULT '',
    metadata            TEXT,
    restrictions        TEXT NOT NULL,
    rate_limit          INTEGER,
    rate_window_seconds INTEGER,
    enabled             INTEGER NOT NULL,
    expires_at          BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    last_rotated_at     BIGINT,
    revoked_at          BIGINT,
    replaced_by         TEXT
);

-- A name is unique among a workspace's active keys; revoked and rotated-out keys free it.
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (workspace_id, name)
    WHERE revoked_at IS NULL AND replaced_by IS NULL;

CREATE INDEX api_keys_list ON api_keys (workspace_id, created_at, id);

CREATE TABLE changes (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    seq          BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    key_hash     BLOB NOT NULL,
    at           BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);
