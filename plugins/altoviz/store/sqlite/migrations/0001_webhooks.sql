-- The Altoviz style's webhooks: the integer id and the name Altoviz's API shows, over one
-- subscription each. AUTOINCREMENT so that an id is never given twice, even after a delete.

CREATE TABLE altoviz_webhooks (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT    NOT NULL UNIQUE REFERENCES subscriptions (id) ON DELETE CASCADE,
    app_id          TEXT    NOT NULL REFERENCES apps (id),
    account_id      TEXT    NOT NULL REFERENCES accounts (id),
    name            TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
);

-- An owner's (app within an account) webhooks, for listing, counting and finding by URL.
CREATE INDEX altoviz_webhooks_owner ON altoviz_webhooks (app_id, account_id, id);
