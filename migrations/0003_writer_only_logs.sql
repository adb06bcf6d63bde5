-- Only Brook's writer may change a partition log. Each log table, and the retention gate, gets a
-- BEFORE INSERT trigger calling brook_partition_logs_are_read_only_outside_brook(), a function
-- only the writer's connection registers: anywhere else the INSERT (or REPLACE, or upsert) fails
-- to compile. The log tables' triggers are added by Brook right after this file (Schema.swift),
-- since SQL alone cannot loop over tables; new log tables get theirs at creation.

CREATE TRIGGER "__brook_retention_gate_writer_only_insert" BEFORE INSERT ON "__brook_retention_gate"
BEGIN
    SELECT brook_partition_logs_are_read_only_outside_brook();
END;
