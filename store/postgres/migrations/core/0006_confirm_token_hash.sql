-- Capability tokens stored hashed (issue 15), as store/sqlite/migrations/core/0005: a subscription
-- keeps the SHA-256 (hex) of its confirmation token, never the token, which the engine derives from
-- the subscription's id. Tokens left in clear are hashed here, so the URLs already sent keep working.
ALTER TABLE subscriptions ADD COLUMN confirm_token_hash TEXT COLLATE "C" UNIQUE;
UPDATE subscriptions SET confirm_token_hash = encode(sha256(convert_to(confirm_token, 'UTF8')), 'hex')
WHERE confirm_token IS NOT NULL;
ALTER TABLE subscriptions DROP COLUMN confirm_token;
