-- Uploaded plugins (issue 16), kept in the database so that one uploaded through any node serves on
-- every node; a node alone on SQLite keeps them in its data dir. The module is BYTEA, byte for byte;
-- hash is its hex SHA-256, which nodes compare to tell whether the version they run is current.
CREATE TABLE plugins (
    name        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    hash        TEXT             NOT NULL,
    trusted     BOOLEAN          NOT NULL DEFAULT FALSE,
    wasm        BYTEA            NOT NULL,
    uploaded_at BIGINT           NOT NULL
);
