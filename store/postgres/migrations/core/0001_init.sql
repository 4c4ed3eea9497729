-- Switchyard's schema on PostgreSQL: the tables of store/sqlite's core migrations 1 to 3, in one.
-- Times are BIGINT unix milliseconds (UTC), as in SQLite, so that rows convert the same in both
-- drivers. Text that is ordered or compared (IDs, cursors, keys) is COLLATE "C": byte order, as
-- SQLite's BINARY, whatever the database's locale. JSON is TEXT, kept as written; an event's raw
-- data and an attempt's bodies are BYTEA, byte for byte. Every ID is made by the engine.

CREATE TABLE accounts (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name       TEXT             NOT NULL,
    created_at BIGINT           NOT NULL
);

CREATE TABLE apps (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name       TEXT             NOT NULL,
    url        TEXT             NOT NULL DEFAULT '',
    -- The signing secret, in clear: the engine signs deliveries with it.
    secret     TEXT             NOT NULL DEFAULT '',
    created_at BIGINT           NOT NULL
);

CREATE TABLE credentials (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    app_id      TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    account_id  TEXT COLLATE "C"          REFERENCES accounts (id),
    kind        TEXT             NOT NULL,
    client_id   TEXT COLLATE "C"          UNIQUE,
    scopes      TEXT             NOT NULL DEFAULT '[]',
    is_primary  BOOLEAN          NOT NULL DEFAULT FALSE,
    secret_hash BYTEA            NOT NULL,
    created_at  BIGINT           NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX credentials_app ON credentials (app_id, id);

CREATE TABLE subscriptions (
    id                         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    app_id                     TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    account_id                 TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    credential_id              TEXT COLLATE "C"          REFERENCES credentials (id),
    format                     TEXT COLLATE "C" NOT NULL,
    events                     TEXT             NOT NULL DEFAULT '[]',
    entity_key                 TEXT COLLATE "C" NOT NULL DEFAULT '',
    url                        TEXT COLLATE "C" NOT NULL,
    options                    TEXT             NOT NULL DEFAULT 'null',
    secret                     TEXT             NOT NULL DEFAULT '',
    previous_secret            TEXT             NOT NULL DEFAULT '',
    previous_secret_expires_at BIGINT,
    state                      TEXT COLLATE "C" NOT NULL,
    disabled_reason            TEXT             NOT NULL DEFAULT '',
    retry_policy               TEXT,
    failing_since              BIGINT,
    confirm_token              TEXT COLLATE "C"          UNIQUE,
    -- version counts writes: UpdateSubscription's optimistic lock.
    version                    INTEGER          NOT NULL DEFAULT 0,
    -- A subscription may cap how fast it is delivered to; 0 means no cap.
    max_per_second             DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at                 BIGINT           NOT NULL,
    updated_at                 BIGINT           NOT NULL
);

CREATE INDEX subscriptions_account_state ON subscriptions (account_id, state, id);
CREATE INDEX subscriptions_app ON subscriptions (app_id, id);
CREATE INDEX subscriptions_credential ON subscriptions (credential_id, id) WHERE credential_id IS NOT NULL;
-- DisableFailing.
CREATE INDEX subscriptions_failing ON subscriptions (failing_since) WHERE failing_since IS NOT NULL;
-- Routing (Store.Ingest): an account's active subscriptions for any entity (entity_key = ''), and
-- those for one entity, without reading the others.
CREATE INDEX subscriptions_routing ON subscriptions (account_id, entity_key, id) WHERE state = 'active';

CREATE TABLE events (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    account_id      TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    type            TEXT COLLATE "C" NOT NULL,
    entity_type     TEXT COLLATE "C" NOT NULL DEFAULT '',
    entity_id       TEXT COLLATE "C" NOT NULL DEFAULT '',
    data            BYTEA            NOT NULL,
    previous_data   BYTEA,
    -- The User who caused the event, as JSON.
    actor           TEXT,
    idempotency_key TEXT COLLATE "C",
    occurred_at     BIGINT           NOT NULL,
    deliver_at      BIGINT,
    created_at      BIGINT           NOT NULL
);

CREATE UNIQUE INDEX events_idempotency ON events (account_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE deliveries (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    event_id        TEXT COLLATE "C"          REFERENCES events (id),
    subscription_id TEXT COLLATE "C" NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    app_id          TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    kind            TEXT COLLATE "C" NOT NULL,
    state           TEXT COLLATE "C" NOT NULL,
    attempts        INTEGER          NOT NULL DEFAULT 0,
    next_attempt_at BIGINT           NOT NULL,
    lease_until     BIGINT,
    last_status     INTEGER          NOT NULL DEFAULT 0,
    last_error      TEXT             NOT NULL DEFAULT '',
    created_at      BIGINT           NOT NULL,
    updated_at      BIGINT           NOT NULL
);

-- ClaimDue and NextDue: pending deliveries, oldest due first.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE state = 'pending';
-- RecoverLeases: in-flight deliveries by lease end.
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE state = 'in_flight';
-- ListDeliveries (ID descending) and the cascade from subscriptions.
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id, id);
CREATE INDEX deliveries_app ON deliveries (app_id, id);

CREATE TABLE attempts (
    delivery_id      TEXT COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number           INTEGER          NOT NULL,
    started_at       BIGINT           NOT NULL,
    duration_ms      BIGINT           NOT NULL DEFAULT 0,
    plugin_version   TEXT             NOT NULL DEFAULT '',
    request_method   TEXT             NOT NULL DEFAULT '',
    request_url      TEXT             NOT NULL DEFAULT '',
    request_headers  TEXT,
    -- Bodies as sent and received, byte for byte: a receiver may answer in binary.
    request_body     BYTEA            NOT NULL DEFAULT '',
    response_status  INTEGER          NOT NULL DEFAULT 0,
    response_headers TEXT,
    response_body    BYTEA            NOT NULL DEFAULT '',
    outcome          TEXT             NOT NULL DEFAULT '',
    error            TEXT             NOT NULL DEFAULT '',
    kept             TEXT,
    PRIMARY KEY (delivery_id, number)
);

-- PurgeAttempts.
CREATE INDEX attempts_started ON attempts (started_at);
