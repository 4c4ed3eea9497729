-- The Upsales style (plugins/upsales): the log entry of every app request with its one-time
-- callback URL, the app data callbacks save, the notifications they send, and the users seen per
-- account. No foreign keys to the engine's tables: log entries outlive deliveries and their
-- attempts (90 days against 30), and notifications outlive log entries.
-- The SQLite line's tables in the core's PostgreSQL conventions: IDs and keys COLLATE "C" (lists
-- are paged by ID, in byte order), times BIGINT unix milliseconds, a status DOUBLE PRECISION as
-- SQLite's REAL (PostgreSQL's REAL is 4 bytes), app data JSON as TEXT, kept as merged.

CREATE TABLE upsales_requests (
    id                  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    delivery_id         TEXT COLLATE "C" NOT NULL UNIQUE,
    app_id              TEXT COLLATE "C" NOT NULL,
    account_id          TEXT COLLATE "C" NOT NULL,
    subscription_id     TEXT COLLATE "C" NOT NULL,
    event_id            TEXT COLLATE "C" NOT NULL DEFAULT '',
    event_type          TEXT             NOT NULL,
    trigger_name        TEXT             NOT NULL,
    entity_id           TEXT             NOT NULL DEFAULT '',
    user_id             TEXT COLLATE "C" NOT NULL DEFAULT '',
    -- The subscription URL the request went to; the app's widgets are below it.
    base_url            TEXT             NOT NULL,
    user_configurable   BOOLEAN          NOT NULL DEFAULT FALSE,
    -- The unguessable part of the callback URL.
    token               TEXT COLLATE "C" NOT NULL UNIQUE,
    -- open, sync, deferred or expired.
    callback_state      TEXT COLLATE "C" NOT NULL DEFAULT 'open',
    callback_expires_at BIGINT           NOT NULL,
    callback_at         BIGINT,
    -- NULL until a callback sets it.
    status              DOUBLE PRECISION,
    message             TEXT             NOT NULL DEFAULT '',
    created_at          BIGINT           NOT NULL,
    updated_at          BIGINT           NOT NULL
);

-- GET /v1/logs, newest first, by app or by account.
CREATE INDEX upsales_requests_app ON upsales_requests (app_id, id);
CREATE INDEX upsales_requests_account ON upsales_requests (account_id, id);
-- Retention.
CREATE INDEX upsales_requests_created ON upsales_requests (created_at);
-- Expiry of open callbacks.
CREATE INDEX upsales_requests_open ON upsales_requests (callback_expires_at) WHERE callback_state = 'open';

-- appData per app and account (user_id ''), userAppData per app, account and user.
CREATE TABLE upsales_app_data (
    app_id     TEXT COLLATE "C" NOT NULL,
    account_id TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL DEFAULT '',
    data       TEXT             NOT NULL,
    updated_at BIGINT           NOT NULL,
    PRIMARY KEY (app_id, account_id, user_id)
);

CREATE TABLE upsales_notifications (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    log_id     TEXT COLLATE "C" NOT NULL,
    app_id     TEXT COLLATE "C" NOT NULL,
    account_id TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL,
    message    TEXT             NOT NULL,
    created_at BIGINT           NOT NULL,
    opened_at  BIGINT
);

CREATE INDEX upsales_notifications_user ON upsales_notifications (user_id, id);
CREATE INDEX upsales_notifications_app ON upsales_notifications (app_id, id);
CREATE INDEX upsales_notifications_created ON upsales_notifications (created_at);

-- The users each account's events have named: "everyone" for a callback's notifyAll.
CREATE TABLE upsales_users (
    account_id   TEXT COLLATE "C" NOT NULL,
    user_id      TEXT COLLATE "C" NOT NULL,
    name         TEXT             NOT NULL DEFAULT '',
    email        TEXT             NOT NULL DEFAULT '',
    last_seen_at BIGINT           NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
