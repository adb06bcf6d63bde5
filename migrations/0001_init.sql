-- Brook schema, version 1.
-- Internal objects are prefixed "__brook_"; topic names may not start with it.
-- Per-partition log tables ("__brook_log_<id>"), their triggers and the per-topic views are created
-- by Brook at run time, named by numeric ids, never by user text (the view aside, whose name is a
-- validated topic name).

PRAGMA application_id = 1112690507; -- 0x42524F4B, "BROK": marks the file as Brook's.

CREATE TABLE __brook_topics (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL UNIQUE,
    retention_ms      INTEGER NOT NULL,
    retention_bytes   INTEGER NOT NULL,
    max_message_bytes INTEGER NOT NULL,
    created_ms        INTEGER NOT NULL
);

-- One row per partition. next_offset is the high watermark: offsets are never reused, even after
-- retention empties the log, because this row outlives the records.
CREATE TABLE __brook_partitions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    topic_id         INTEGER NOT NULL REFERENCES __brook_topics(id),
    partition        INTEGER NOT NULL,
    log_start_offset INTEGER NOT NULL DEFAULT 0,
    next_offset      INTEGER NOT NULL DEFAULT 0,
    bytes            INTEGER NOT NULL DEFAULT 0,
    UNIQUE (topic_id, partition)
);

-- (group, topic, partition) -> next offset to read, plus metadata.
CREATE TABLE __brook_committed_offsets (
    group_id     TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    partition    INTEGER NOT NULL,
    next_offset  INTEGER NOT NULL,
    metadata     TEXT    NOT NULL DEFAULT '',
    committed_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;

-- Holds a row only inside Brook's retention transaction: the delete triggers on the log tables
-- refuse any DELETE while it is empty, so retention is the one sanctioned delete.
CREATE TABLE __brook_retention_gate (
    open INTEGER NOT NULL
);
