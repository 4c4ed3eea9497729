-- Why the last callback for a request did not apply (issue 19): a synchronous callback of 100 kb or
-- more, one that is not an object, one that came after the callback was spent. Empty for requests
-- logged before, and for every callback that applied.
ALTER TABLE upsales_requests ADD COLUMN callback_error TEXT NOT NULL DEFAULT '';
