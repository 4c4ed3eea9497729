-- QuicklySign keeps a subscription's callback log while its document exists, but the engine deletes
-- a subscription's deliveries and attempts with it (ON DELETE CASCADE). So the log of a QuicklySign
-- subscription is copied here as the subscription is deleted, in the deleting transaction,
-- whichever way it is deleted (the compatible API, the native API, a revoked credential), and the
-- compatible API serves it from here. The style's purge job removes it by the attempts' retention.
-- Deliveries still pending or in flight were cancelled by the deletion and are kept as "cancelled".
-- The API version (v0 subscription or v1 webhook) is the subscription's "api" option, v0 when unset
-- as it is on subscriptions made before v1 existed.
-- The same tables as the SQLite line's, in the core's PostgreSQL conventions: IDs COLLATE "C" (the
-- log is paged by ID, in byte order), times BIGINT unix milliseconds, a response body BYTEA as the
-- engine's attempts keep it, copied byte for byte.
CREATE TABLE quicklysign_deleted_subscriptions (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    app_id     TEXT COLLATE "C" NOT NULL,
    account_id TEXT COLLATE "C" NOT NULL,
    api        TEXT             NOT NULL,
    entity_key TEXT COLLATE "C" NOT NULL,
    url        TEXT             NOT NULL,
    created_at BIGINT           NOT NULL,
    deleted_at BIGINT           NOT NULL
);

CREATE TABLE quicklysign_deleted_deliveries (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    subscription_id TEXT COLLATE "C" NOT NULL REFERENCES quicklysign_deleted_subscriptions (id) ON DELETE CASCADE,
    event_id        TEXT COLLATE "C",
    app_id          TEXT COLLATE "C" NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL,
    state           TEXT COLLATE "C" NOT NULL,
    attempts        INTEGER          NOT NULL,
    next_attempt_at BIGINT           NOT NULL,
    last_status     INTEGER          NOT NULL,
    last_error      TEXT             NOT NULL,
    created_at      BIGINT           NOT NULL,
    updated_at      BIGINT           NOT NULL,
    event_type      TEXT COLLATE "C" NOT NULL,
    event_entity_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX quicklysign_deleted_deliveries_subscription ON quicklysign_deleted_deliveries (subscription_id, id);

CREATE TABLE quicklysign_deleted_attempts (
    delivery_id     TEXT COLLATE "C" NOT NULL REFERENCES quicklysign_deleted_deliveries (id) ON DELETE CASCADE,
    number          INTEGER          NOT NULL,
    started_at      BIGINT           NOT NULL,
    duration_ms     BIGINT           NOT NULL,
    response_status INTEGER          NOT NULL,
    response_body   BYTEA            NOT NULL,
    outcome         TEXT             NOT NULL,
    error           TEXT             NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
CREATE INDEX quicklysign_deleted_attempts_started ON quicklysign_deleted_attempts (started_at);

-- A row trigger BEFORE the delete: the deliveries and attempts the cascade removes are still there
-- (PostgreSQL runs the cascade after the statement's rows are deleted).
CREATE FUNCTION quicklysign_keep_callback_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quicklysign_deleted_subscriptions (id, app_id, account_id, api, entity_key, url, created_at, deleted_at)
    VALUES (OLD.id, OLD.app_id, OLD.account_id, COALESCE(OLD.options::jsonb ->> 'api', 'v0'), OLD.entity_key, OLD.url,
            OLD.created_at, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
    ON CONFLICT DO NOTHING;
    INSERT INTO quicklysign_deleted_deliveries (id, subscription_id, event_id, app_id, kind, state, attempts,
            next_attempt_at, last_status, last_error, created_at, updated_at, event_type, event_entity_id)
    SELECT d.id, d.subscription_id, d.event_id, d.app_id, d.kind,
           CASE WHEN d.state IN ('pending', 'in_flight') THEN 'cancelled' ELSE d.state END,
           d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.updated_at,
           COALESCE(e.type, ''), COALESCE(e.entity_id, '')
    FROM deliveries d LEFT JOIN events e ON e.id = d.event_id
    WHERE d.subscription_id = OLD.id
    ON CONFLICT DO NOTHING;
    INSERT INTO quicklysign_deleted_attempts (delivery_id, number, started_at, duration_ms, response_status,
            response_body, outcome, error)
    SELECT a.delivery_id, a.number, a.started_at, a.duration_ms, a.response_status, a.response_body, a.outcome, a.error
    FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
    WHERE d.subscription_id = OLD.id
    ON CONFLICT DO NOTHING;
    RETURN OLD;
END
$$;

CREATE TRIGGER quicklysign_keep_callback_log BEFORE DELETE ON subscriptions
FOR EACH ROW WHEN (OLD.format = 'quicklysign')
EXECUTE FUNCTION quicklysign_keep_callback_log();
