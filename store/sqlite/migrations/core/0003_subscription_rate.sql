-- A subscription may cap how fast it is delivered to; 0 means no cap.
ALTER TABLE subscriptions ADD COLUMN max_per_second REAL NOT NULL DEFAULT 0;
