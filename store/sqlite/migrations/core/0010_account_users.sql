-- The users of each account, as the publishing platform tells Switchyard (issue 19): who is in an
-- account (to notify every one of them) and what each may do (permissions, for roles).
CREATE TABLE account_users (
    account_id  TEXT    NOT NULL REFERENCES accounts (id),
    user_id     TEXT    NOT NULL,
    -- JSON array of permission strings, such as ["invoices:delete"].
    permissions TEXT    NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
