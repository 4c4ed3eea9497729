-- Operator actions (issue 17): as store/sqlite/migrations/core/0005_operator_actions.sql.
ALTER TABLE subscriptions ADD COLUMN paused_at BIGINT;
CREATE INDEX subscriptions_paused ON subscriptions (id) WHERE paused_at IS NOT NULL;
CREATE INDEX events_account ON events (account_id, id);
