-- The SalesKing style's own data on PostgreSQL, as SQLite's line 1: what it knows of an account
-- beyond the engine's model. A SalesKing company has a sub-domain (acme in acme.salesking.eu) that
-- notifications carry and apps key their data by; the operator records it per account.

CREATE TABLE salesking_companies (
    account_id TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    sub_domain TEXT             NOT NULL,
    updated_at BIGINT           NOT NULL
);
