-- One log table per topic instead of one per partition, headers as JSON, and a time index.
--
-- A table per partition made a topic of 10,000 partitions 40,000 schema objects (tables, three
-- triggers each, and a view that unions them): creating it took minutes while producers to other
-- topics waited, and every later schema change made each connection parse that schema again.
-- Now each topic has one table, "__brook_records_<topic id>", whose INTEGER PRIMARY KEY packs
-- partition << 49 | offset, with the same three guard triggers; its view unpacks `partition` and
-- `offset`. Adding partitions changes no schema.
--
-- `headers` becomes JSON text, e.g. [["src","web"],["trace",{"base64":"AP8="}]]: values (and keys)
-- that are not UTF-8 text are base64 objects, so the exact bytes stay readable.
--
-- Brook moves every partition table's rows into its topic's table, converting the headers, then
-- drops the old tables and views, right after this file in the same transaction (Schema.swift),
-- since SQL alone cannot loop over tables.

-- A sparse index from time to offset per partition, as Kafka's time index: each row says that no
-- record at or below `offset` has a timestamp above `max_timestamp`. Brook writes one about every
-- 1,000 records of a partition. ListOffsets by timestamp finds the last row whose max_timestamp is
-- below the target and scans the partition's records from the next offset on.
CREATE TABLE __brook_time_index (
    partition_id  INTEGER NOT NULL,
    max_timestamp INTEGER NOT NULL,
    offset        INTEGER NOT NULL,
    PRIMARY KEY (partition_id, max_timestamp)
) WITHOUT ROWID;
