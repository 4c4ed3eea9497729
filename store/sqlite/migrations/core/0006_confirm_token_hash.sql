-- Capability tokens stored hashed (issue 15): a subscription keeps the SHA-256 of its confirmation
-- token, never the token, which the engine derives from the subscription's id whenever a delivery
-- carries its URLs. SQLite has no SHA-256, so the clear tokens older versions left in
-- confirm_token are hashed into confirm_token_hash by the store in Go right after the migrations
-- (hashLegacyConfirmTokens), and confirm_token is NULL from then on; the URLs already sent keep
-- working. The column stays: SQLite cannot drop a UNIQUE column.
ALTER TABLE subscriptions ADD COLUMN confirm_token_hash TEXT;
CREATE UNIQUE INDEX subscriptions_confirm_token_hash ON subscriptions (confirm_token_hash) WHERE confirm_token_hash IS NOT NULL;
