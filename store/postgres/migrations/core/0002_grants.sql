-- Accounts grant apps (issue 15, finding 6): as store/sqlite/migrations/core/0004_grants.sql.
-- A database made by this driver has no data from before grants, so there is nothing to grant
-- for existing subscriptions; the statements that do so are kept for a database filled by copy.
CREATE TABLE grants (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    app_id     TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    -- The event types or patterns the app may subscribe to, as JSON.
    events     TEXT    NOT NULL DEFAULT '[]',
    created_at BIGINT  NOT NULL,
    revoked_at BIGINT
);

-- One live grant per app and account; revoked ones stay as a record.
CREATE UNIQUE INDEX grants_live ON grants (app_id, account_id) WHERE revoked_at IS NULL;
CREATE INDEX grants_account ON grants (account_id, id);

ALTER TABLE credentials ADD COLUMN all_accounts BOOLEAN NOT NULL DEFAULT FALSE;

INSERT INTO grants (id, app_id, account_id, events, created_at)
SELECT 'grt_' || md5(app_id || account_id), app_id, account_id, '["*"]',
       (extract(epoch FROM now()) * 1000)::BIGINT
FROM subscriptions
GROUP BY app_id, account_id;

UPDATE credentials SET all_accounts = TRUE
WHERE account_id IS NULL AND scopes::jsonb ? 'events:publish';
