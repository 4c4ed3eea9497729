-- A claim that skips subscriptions (their caps are full in the dispatcher) walked the due
-- deliveries oldest first and passed over every one of theirs older than the work it could take:
-- the cost grew with the skipped backlogs. It now lists the subscriptions with pending deliveries,
-- one seek each in this index, and reads each one's oldest due deliveries (claimSkippingSQL in
-- deliveries.go), as SQLite's claim has since its core migration 0013.
CREATE INDEX deliveries_pending ON deliveries (subscription_id, next_attempt_at, id) WHERE state = 'pending';
