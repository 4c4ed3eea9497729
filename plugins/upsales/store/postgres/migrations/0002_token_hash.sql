-- Capability tokens stored hashed (issue 15), as the SQLite line's 0002: token holds the SHA-256
-- (hex) of the callback URL's token from now on, never the token, which the style derives from the
-- entry's id whenever a request carries the URL. Tokens stored before are hashed here, so the
-- callback URLs already sent keep working.
UPDATE upsales_requests SET token = encode(sha256(convert_to(token, 'UTF8')), 'hex');
