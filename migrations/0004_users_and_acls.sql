-- Users and their rights, kept in the file so that a backup carries them.
--
-- Only SCRAM verifiers are stored (RFC 5802: salt, iteration count, StoredKey, ServerKey), one
-- row per user and mechanism; never a password. ACL rules follow Kafka's model: a principal, a
-- resource by literal or prefixed name, an operation, allow or deny; deny wins.

CREATE TABLE __brook_users (
    name       TEXT    NOT NULL PRIMARY KEY,
    super      INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE __brook_scram_credentials (
    user       TEXT    NOT NULL,
    mechanism  TEXT    NOT NULL,            -- 'SCRAM-SHA-256' or 'SCRAM-SHA-512'
    salt       BLOB    NOT NULL,
    iterations INTEGER NOT NULL,
    stored_key BLOB    NOT NULL,
    server_key BLOB    NOT NULL,
    PRIMARY KEY (user, mechanism)
) WITHOUT ROWID;

CREATE TABLE __brook_acls (
    principal     TEXT NOT NULL,            -- 'User:alice', or 'User:*' for everyone
    resource_type TEXT NOT NULL,            -- 'TOPIC', 'GROUP' or 'CLUSTER'
    pattern_type  TEXT NOT NULL,            -- 'LITERAL' or 'PREFIXED'
    resource_name TEXT NOT NULL,            -- '*' for every resource of the type (LITERAL)
    operation     TEXT NOT NULL,            -- Kafka's: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, ...
    permission    TEXT NOT NULL,            -- 'ALLOW' or 'DENY'
    host          TEXT NOT NULL DEFAULT '*',
    created_ms    INTEGER NOT NULL,
    PRIMARY KEY (principal, resource_type, pattern_type, resource_name, operation, permission, host)
) WITHOUT ROWID;
