-- QuicklySign keeps a subscription's callback log while its document exists, but the engine deletes
-- a subscription's deliveries and attempts with it (ON DELETE CASCADE). So the log of a QuicklySign
-- subscription is copied here as the subscription is deleted, in the same statement's transaction,
-- whichever way it is deleted (the compatible API, the native API, a revoked credential), and the
-- compatible API serves it from here. The style's purge job removes it by the attempts' retention.
-- Deliveries still pending or in flight were cancelled by the deletion and are kept as "cancelled".
-- The API version (v0 subscription or v1 webhook) is the subscription's "api" option, v0 when unset
-- as it is on subscriptions made before v1 existed.
CREATE TABLE quicklysign_deleted_subscriptions (
    id         TEXT    NOT NULL PRIMARY KEY,
    app_id     TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    api        TEXT    NOT NULL,
    entity_key TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL
);

CREATE TABLE quicklysign_deleted_deliveries (
    id              TEXT    NOT NULL PRIMARY KEY,
    subscription_id TEXT    NOT NULL REFERENCES quicklysign_deleted_subscriptions (id) ON DELETE CASCADE,
    event_id        TEXT,
    app_id          TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    event_type      TEXT    NOT NULL,
    event_entity_id TEXT    NOT NULL
);
CREATE INDEX quicklysign_deleted_deliveries_subscription ON quicklysign_deleted_deliveries (subscription_id, id);

CREATE TABLE quicklysign_deleted_attempts (
    delivery_id     TEXT    NOT NULL REFERENCES quicklysign_deleted_deliveries (id) ON DELETE CASCADE,
    number          INTEGER NOT NULL,
    started_at      INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    error           TEXT    NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
CREATE INDEX quicklysign_deleted_attempts_started ON quicklysign_deleted_attempts (started_at);

CREATE TRIGGER quicklysign_keep_callback_log BEFORE DELETE ON subscriptions
WHEN OLD.format = 'quicklysign'
BEGIN
    INSERT OR IGNORE INTO quicklysign_deleted_subscriptions (id, app_id, account_id, api, entity_key, url, created_at, deleted_at)
    VALUES (OLD.id, OLD.app_id, OLD.account_id, COALESCE(json_extract(OLD.options, '$.api'), 'v0'), OLD.entity_key, OLD.url,
            OLD.created_at, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
    INSERT OR IGNORE INTO quicklysign_deleted_deliveries (id, subscription_id, event_id, app_id, kind, state, attempts,
            next_attempt_at, last_status, last_error, created_at, updated_at, event_type, event_entity_id)
    SELECT d.id, d.subscription_id, d.event_id, d.app_id, d.kind,
           CASE WHEN d.state IN ('pending', 'in_flight') THEN 'cancelled' ELSE d.state END,
           d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.updated_at,
           COALESCE(e.type, ''), COALESCE(e.entity_id, '')
    FROM deliveries d LEFT JOIN events e ON e.id = d.event_id
    WHERE d.subscription_id = OLD.id;
    INSERT OR IGNORE INTO quicklysign_deleted_attempts (delivery_id, number, started_at, duration_ms, response_status,
            response_body, outcome, error)
    SELECT a.delivery_id, a.number, a.started_at, a.duration_ms, a.response_status, a.response_body, a.outcome, a.error
    FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
    WHERE d.subscription_id = OLD.id;
END;
