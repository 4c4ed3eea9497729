-- QuicklySign style: subscriptions limited to one document each. An integrator may hold one per
-- document it ever sent, so an account can gather many thousands of them.

-- Routing (Store.Ingest): an account's active subscriptions for any entity (entity_key = ''), and
-- those for one entity, without reading the others.
CREATE INDEX subscriptions_routing ON subscriptions (account_id, entity_key, id) WHERE state = 'active';

-- The compatible API lists a client's subscriptions to one document (GET and DELETE
-- /subscriptions?entity_key=...), and checks for the same one before creating another.
CREATE INDEX subscriptions_app_entity ON subscriptions (app_id, entity_key, id);
