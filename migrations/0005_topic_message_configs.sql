-- Two topic configs Kafka users set: message.timestamp.type (CreateTime keeps the producer's
-- timestamp; LogAppendTime stamps each record with the time the broker appended it) and
-- compression.type (the codec of the record batches Kafka fetches serve; "producer" serves them
-- as Brook stores them, uncompressed). Existing topics keep today's behaviour: the defaults.
ALTER TABLE __brook_topics ADD COLUMN message_timestamp_type TEXT NOT NULL DEFAULT 'CreateTime';
ALTER TABLE __brook_topics ADD COLUMN compression_type TEXT NOT NULL DEFAULT 'producer';
