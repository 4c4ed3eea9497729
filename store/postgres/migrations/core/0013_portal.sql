-- Portal links and sessions (issue 18): as store/sqlite/migrations/core/0014_portal.sql.
CREATE TABLE portal_entries (
    id          TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    kind        TEXT   NOT NULL,
    app_id      TEXT   COLLATE "C" NOT NULL REFERENCES apps (id),
    secret_hash BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE INDEX portal_entries_app ON portal_entries (app_id, kind, created_at, id);
CREATE INDEX portal_entries_expiry ON portal_entries (expires_at);
