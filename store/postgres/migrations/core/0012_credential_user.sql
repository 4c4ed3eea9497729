-- The user of the account who granted an access token (issue 19, SalesKing's roles): a delivery
-- of the token's subscriptions goes out only if that user may see what it reports. NULL for
-- credentials issued before, and for those that name no user.
ALTER TABLE credentials ADD COLUMN user_id TEXT;
