-- The claim walks the due deliveries oldest first and passes over those of subscriptions it skips
-- (their cap is full) and the queued ones of ordered queues. With only (next_attempt_at, id) in
-- the index, every row passed over was a lookup in the table: a claim behind one subscription's
-- backlog of 20,000 took 9 ms. With the subscription and the queue in the index, passing over a row
-- reads the index alone.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id, subscription_id, ordering_key, sequence) WHERE state = 'pending';

-- A claim that skips subscriptions lists those with pending deliveries, one seek each, and reads
-- each one's oldest due deliveries (see claimSkippingSQL in deliveries.go).
CREATE INDEX deliveries_pending ON deliveries (subscription_id, next_attempt_at, id) WHERE state = 'pending';
