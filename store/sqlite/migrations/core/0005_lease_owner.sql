-- Leases name the node that holds them (issue 16): nodes sharing one database recover their own
-- leases at start and on a clean stop, and leave the others' alone. A single node on SQLite writes
-- its id too, harmlessly. '' is no owner: rows leased before this column, and unleased ones.
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
