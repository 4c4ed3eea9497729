-- Ordered delivery (issue 22): as store/sqlite/migrations/core/0005_ordering.sql.
ALTER TABLE subscriptions ADD COLUMN ordering TEXT COLLATE "C" NOT NULL DEFAULT 'none';
ALTER TABLE subscriptions ADD COLUMN on_dead TEXT COLLATE "C" NOT NULL DEFAULT 'continue';

ALTER TABLE deliveries ADD COLUMN ordering_key TEXT COLLATE "C";
ALTER TABLE deliveries ADD COLUMN sequence BIGINT;

CREATE INDEX deliveries_ordering ON deliveries (subscription_id, state, ordering_key, sequence)
    WHERE ordering_key IS NOT NULL;

-- Ingest bumps a queue's row with INSERT ... ON CONFLICT DO UPDATE: the row lock makes ingests on
-- every node number one queue one after the other, in the order they commit.
CREATE TABLE ordering_sequences (
    subscription_id TEXT COLLATE "C" NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    ordering_key    TEXT COLLATE "C" NOT NULL,
    last            BIGINT           NOT NULL,
    PRIMARY KEY (subscription_id, ordering_key)
);
