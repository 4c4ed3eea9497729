-- Leases name the node that holds them (issue 16): nodes sharing one database recover their own
-- leases at start and on a clean stop, and leave the others' alone. '' is no owner.
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT COLLATE "C" NOT NULL DEFAULT '';
