-- Routing (Store.Ingest): an account's active subscriptions for any entity (entity_key = ''), and
-- those for one entity, without reading the others. An account may hold many thousands of
-- subscriptions limited to one document each (an integrator may subscribe once per document).
CREATE INDEX subscriptions_routing ON subscriptions (account_id, entity_key, id) WHERE state = 'active';
