-- Accounts grant apps (issue 15, finding 6): a credential bound to no account reaches an account's
-- events only through an unrevoked grant of that account to its app, and publishes only when the
-- operator issued it for all accounts.
CREATE TABLE grants (
    id         TEXT    NOT NULL PRIMARY KEY,
    app_id     TEXT    NOT NULL REFERENCES apps (id),
    account_id TEXT    NOT NULL REFERENCES accounts (id),
    -- The event types or patterns the app may subscribe to, as JSON.
    events     TEXT    NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- One live grant per app and account; revoked ones stay as a record.
CREATE UNIQUE INDEX grants_live ON grants (app_id, account_id) WHERE revoked_at IS NULL;
CREATE INDEX grants_account ON grants (account_id, id);

ALTER TABLE credentials ADD COLUMN all_accounts INTEGER NOT NULL DEFAULT 0;

-- Nothing that worked before the upgrade stops: every app with a subscription in an account is
-- granted all of that account's events, as any credential of its whole app reached them before.
INSERT INTO grants (id, app_id, account_id, events, created_at)
SELECT 'grt_' || lower(hex(randomblob(12))), app_id, account_id, '["*"]',
       CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
FROM subscriptions
GROUP BY app_id, account_id;

-- An unbound events:publish credential published into every account: it still does.
UPDATE credentials SET all_accounts = 1
WHERE account_id IS NULL AND EXISTS (SELECT 1 FROM json_each(credentials.scopes) WHERE value = 'events:publish');
