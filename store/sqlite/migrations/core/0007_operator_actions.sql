-- Operator actions (issue 17). A paused subscription's deliveries are stored but not claimed;
-- NULL, the default every existing subscription gets, is not paused.
ALTER TABLE subscriptions ADD COLUMN paused_at INTEGER;
-- The claim leaves out paused subscriptions' deliveries: few subscriptions are paused at once.
CREATE INDEX subscriptions_paused ON subscriptions (id) WHERE paused_at IS NOT NULL;
-- GET /v1/events?account_id=: one account's events, newest first.
CREATE INDEX events_account ON events (account_id, id);
