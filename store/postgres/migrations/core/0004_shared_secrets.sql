-- Secrets every node on the database must hold alike (issue 16): the server's signing key and its
-- certificate, the admin token, the vendor styles' keys. A node alone on SQLite keeps them as
-- files in its data dir; nodes sharing PostgreSQL keep them here, made by whichever node needs one
-- first. Readable by whoever reads the database, like the subscriptions' signing secrets.
CREATE TABLE shared_secrets (
    name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value      BYTEA            NOT NULL,
    created_at BIGINT           NOT NULL
);
