-- The compatible API lists a client's subscriptions to one document (GET and DELETE
-- /subscriptions?entity_key=...), and checks for the same one before creating another. An
-- integrator may hold one per document it ever sent, so an account can gather many thousands.
CREATE INDEX subscriptions_app_entity ON subscriptions (app_id, entity_key, id);
