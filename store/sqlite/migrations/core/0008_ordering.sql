-- Ordered delivery (issue 22). A subscription may ask for its deliveries of one entity
-- ("entity") or all of them ("subscription") to be sent one at a time, in the order their events
-- were accepted; "none" keeps what every subscription did before. on_dead says whether a dead
-- delivery releases those behind it ("continue") or holds them until an operator retries or skips
-- it ("block").
ALTER TABLE subscriptions ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';
ALTER TABLE subscriptions ADD COLUMN on_dead TEXT NOT NULL DEFAULT 'continue';

-- An ordered delivery names its queue (ordering_key: "type:id" of the entity, or "*" for the whole
-- subscription) and its place in it. NULL for every delivery made before, and for unordered ones.
ALTER TABLE deliveries ADD COLUMN ordering_key TEXT;
ALTER TABLE deliveries ADD COLUMN sequence INTEGER;

-- The claim takes only the head of each queue: NOT EXISTS an earlier delivery of the same queue
-- still pending or in flight (or dead, under on_dead = block). With state before the key, that
-- probe is a seek per state, never a walk over the queue's delivered past; it also lists a
-- subscription's undone queues for the held count.
CREATE INDEX deliveries_ordering ON deliveries (subscription_id, state, ordering_key, sequence)
    WHERE ordering_key IS NOT NULL;

-- The last sequence number given in each queue. Ingest bumps it in its transaction, so numbers
-- follow the order events were accepted in; deleting a subscription deletes its queues.
CREATE TABLE ordering_sequences (
    subscription_id TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    ordering_key    TEXT    NOT NULL,
    last            INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, ordering_key)
) WITHOUT ROWID;
