-- Accounts and apps may carry the publishing platform's numeric id (issue 19): styles whose vendor
-- numbers them send it as a JSON number. Optional, so existing
-- rows keep NULL and are sent as before; unique where given, as an id is.
ALTER TABLE accounts ADD COLUMN external_id INTEGER;
ALTER TABLE apps ADD COLUMN external_id INTEGER;
CREATE UNIQUE INDEX accounts_external_id ON accounts (external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX apps_external_id ON apps (external_id) WHERE external_id IS NOT NULL;
