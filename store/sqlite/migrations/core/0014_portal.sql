-- Portal links and the sessions they are traded for (issue 18), in the database rather than one
-- node's memory: a link made on one node opens on another, a session works on every node and
-- outlives a restart, and a revocation reaches every node on its next request. Only a digest of
-- each secret is kept. kind is 'link' or 'session'; used_at is when a link was traded.
CREATE TABLE portal_entries (
    id          TEXT    NOT NULL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    app_id      TEXT    NOT NULL REFERENCES apps (id),
    secret_hash BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

-- The bound per app counts an app's live entries of a kind and drops the oldest.
CREATE INDEX portal_entries_app ON portal_entries (app_id, kind, created_at, id);
-- The maintenance job deletes what expired.
CREATE INDEX portal_entries_expiry ON portal_entries (expires_at);
