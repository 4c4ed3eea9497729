-- Switchyard's schema. Times are INTEGER unix milliseconds (UTC); JSON is TEXT; an event's raw data
-- is a BLOB kept byte for byte. Booleans are INTEGER 0/1. Every ID is made by the engine.

CREATE TABLE accounts (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE apps (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    url        TEXT    NOT NULL DEFAULT '',
    -- The signing secret, in clear: the engine signs deliveries with it.
    secret     TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE credentials (
    id          TEXT    NOT NULL PRIMARY KEY,
    app_id      TEXT    NOT NULL REFERENCES apps (id),
    account_id  TEXT             REFERENCES accounts (id),
    kind        TEXT    NOT NULL,
    client_id   TEXT             UNIQUE,
    scopes      TEXT    NOT NULL DEFAULT '[]',
    is_primary  INTEGER NOT NULL DEFAULT 0,
    secret_hash BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE INDEX credentials_app ON credentials (app_id, id);

CREATE TABLE subscriptions (
    id                         TEXT    NOT NULL PRIMARY KEY,
    app_id                     TEXT    NOT NULL REFERENCES apps (id),
    account_id                 TEXT    NOT NULL REFERENCES accounts (id),
    credential_id              TEXT             REFERENCES credentials (id),
    format                     TEXT    NOT NULL,
    events                     TEXT    NOT NULL DEFAULT '[]',
    entity_key                 TEXT    NOT NULL DEFAULT '',
    url                        TEXT    NOT NULL,
    options                    TEXT    NOT NULL DEFAULT 'null',
    secret                     TEXT    NOT NULL DEFAULT '',
    previous_secret            TEXT    NOT NULL DEFAULT '',
    previous_secret_expires_at INTEGER,
    state                      TEXT    NOT NULL,
    disabled_reason            TEXT    NOT NULL DEFAULT '',
    retry_policy               TEXT,
    failing_since              INTEGER,
    confirm_token              TEXT             UNIQUE,
    -- version counts writes: UpdateSubscription's optimistic lock.
    version                    INTEGER NOT NULL DEFAULT 0,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);

-- Routing: an account's active subscriptions.
CREATE INDEX subscriptions_account_state ON subscriptions (account_id, state, id);
CREATE INDEX subscriptions_app ON subscriptions (app_id, id);
CREATE INDEX subscriptions_credential ON subscriptions (credential_id, id) WHERE credential_id IS NOT NULL;
-- DisableFailing.
CREATE INDEX subscriptions_failing ON subscriptions (failing_since) WHERE failing_since IS NOT NULL;

CREATE TABLE events (
    id              TEXT    NOT NULL PRIMARY KEY,
    account_id      TEXT    NOT NULL REFERENCES accounts (id),
    type            TEXT    NOT NULL,
    entity_type     TEXT    NOT NULL DEFAULT '',
    entity_id       TEXT    NOT NULL DEFAULT '',
    data            BLOB    NOT NULL,
    previous_data   BLOB,
    -- The User who caused the event, as JSON.
    actor           TEXT,
    idempotency_key TEXT,
    occurred_at     INTEGER NOT NULL,
    deliver_at      INTEGER,
    created_at      INTEGER NOT NULL
);

CREATE UNIQUE INDEX events_idempotency ON events (account_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Deliveries are small, hot rows looked up by their TEXT key, so they live in the primary key's
-- b-tree (WITHOUT ROWID): one b-tree fewer to write on every insert, one lookup fewer on every
-- update.
CREATE TABLE deliveries (
    id              TEXT    NOT NULL PRIMARY KEY,
    event_id        TEXT             REFERENCES events (id),
    subscription_id TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    app_id          TEXT    NOT NULL REFERENCES apps (id),
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- ClaimDue and NextDue: pending deliveries, oldest due first.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE state = 'pending';
-- RecoverLeases: in-flight deliveries by lease end.
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE state = 'in_flight';
-- ListDeliveries (ID descending) and the cascade from subscriptions.
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id, id);
CREATE INDEX deliveries_app ON deliveries (app_id, id);

CREATE TABLE attempts (
    delivery_id      TEXT    NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL DEFAULT 0,
    plugin_version   TEXT    NOT NULL DEFAULT '',
    request_method   TEXT    NOT NULL DEFAULT '',
    request_url      TEXT    NOT NULL DEFAULT '',
    request_headers  TEXT,
    request_body     TEXT    NOT NULL DEFAULT '',
    response_status  INTEGER NOT NULL DEFAULT 0,
    response_headers TEXT,
    response_body    TEXT    NOT NULL DEFAULT '',
    outcome          TEXT    NOT NULL DEFAULT '',
    error            TEXT    NOT NULL DEFAULT '',
    kept             TEXT,
    PRIMARY KEY (delivery_id, number)
);

-- PurgeAttempts.
CREATE INDEX attempts_started ON attempts (started_at);
