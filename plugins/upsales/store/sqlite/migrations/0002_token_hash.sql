-- Capability tokens stored hashed (issue 15): token holds the SHA-256 (hex) of the callback URL's
-- token from now on, never the token, which the style derives from the entry's id whenever a
-- request carries the URL. SQLite has no SHA-256, so the clear tokens older versions stored are
-- hashed by the store in Go right after the migrations (hashLegacyTokens); token_hashed tells
-- which rows it has done, and the index keeps that check quick.
ALTER TABLE upsales_requests ADD COLUMN token_hashed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX upsales_requests_clear_token ON upsales_requests (id) WHERE token_hashed = 0;
