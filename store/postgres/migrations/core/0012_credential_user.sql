-- The user of the account who granted an access token (issue 19, roles): a style with roles
-- delivers to the token's subscriptions only what that user may see. NULL for credentials issued
-- before, and for those that name no user.
ALTER TABLE credentials ADD COLUMN user_id TEXT;
