-- Idempotent producers (Kafka's enable.idempotence): ids and epochs issued by the broker, and per
-- producer and partition the last sequence number and the last few batches, written in the same
-- transaction as the records they describe, so a retried batch is recognised after a restart.

CREATE TABLE __brook_producers (
    producer_id INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch       INTEGER NOT NULL,
    -- A client-chosen stable identity: initialising it again bumps the epoch and fences the old one.
    client_key  TEXT UNIQUE,
    updated_ms  INTEGER NOT NULL
);

CREATE TABLE __brook_producer_sequences (
    producer_id   INTEGER NOT NULL,
    partition_id  INTEGER NOT NULL,
    epoch         INTEGER NOT NULL,
    last_sequence INTEGER NOT NULL,
    -- The last batches, newest last, as "firstSequence:lastSequence:baseOffset" separated by ';'.
    recent        TEXT    NOT NULL,
    PRIMARY KEY (producer_id, partition_id)
) WITHOUT ROWID;
