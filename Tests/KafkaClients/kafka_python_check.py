"""kafka-python (pure Python; idempotent producer by default): a producer, then a consumer with
assign() reading every record back."""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

kafka = sys.argv[1]
TOPIC, COUNT = "kafka-python-topic", 120


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: kafka-python: {message}")


base = int(time.time() * 1000) - 60_000
producer = KafkaProducer(bootstrap_servers=kafka, acks="all")
futures = [
    producer.send(TOPIC, key=f"k{i}".encode(), value=f"v{i}".encode(), headers=[("n", str(i).encode())], timestamp_ms=base + i)
    for i in range(COUNT)
]
producer.flush(30)
metadata = [f.get(timeout=30) for f in futures]
check([m.offset for m in metadata] == list(range(COUNT)), "offsets are not 0..n-1")
check({m.partition for m in metadata} == {0}, "records spread over partitions of a 1-partition topic")
producer.close()
print(f"ok: kafka-python produced {COUNT} records at offsets 0..{COUNT - 1}")

consumer = KafkaConsumer(bootstrap_servers=kafka, group_id=None, enable_auto_commit=False, consumer_timeout_ms=5000)
tp = TopicPartition(TOPIC, 0)
consumer.assign([tp])
consumer.seek_to_beginning(tp)
records = []
deadline = time.time() + 30
while len(records) < COUNT and time.time() < deadline:
    for batch in consumer.poll(timeout_ms=1000).values():
        records.extend(batch)
check(len(records) == COUNT, f"read back {len(records)} of {COUNT}")
for i, record in enumerate(records):
    check(record.offset == i, f"record {i} at offset {record.offset}")
    check((record.key, record.value) == (f"k{i}".encode(), f"v{i}".encode()), f"record {i} is {(record.key, record.value)}")
    check(list(record.headers) == [("n", str(i).encode())], f"record {i} headers {record.headers}")
    check(record.timestamp == base + i, f"record {i} timestamp {record.timestamp}")
check(consumer.end_offsets([tp]) == {tp: COUNT}, f"end offsets {consumer.end_offsets([tp])}")
check(consumer.beginning_offsets([tp]) == {tp: 0}, f"beginning offsets {consumer.beginning_offsets([tp])}")
listed = consumer.offsets_for_times({tp: base + 77})[tp]
check(listed is not None and listed.offset == 77 and listed.timestamp == base + 77, f"offsets_for_times {listed}")
consumer.close()
print(f"ok: kafka-python consumer assign() read all {COUNT} records back; end/beginning offsets and offsets_for_times")

# gzip from kafka-python's own codec (no extra packages needed for it).
producer = KafkaProducer(bootstrap_servers=kafka, acks="all", compression_type="gzip", linger_ms=20)
futures = [producer.send("kafka-python-gzip", value=f"gz-{i}".encode() * 20) for i in range(100)]
producer.flush(30)
check([f.get(timeout=30).offset for f in futures] == list(range(100)), "gzip offsets are not 0..99")
producer.close()
consumer = KafkaConsumer(bootstrap_servers=kafka, group_id=None, enable_auto_commit=False)
tp = TopicPartition("kafka-python-gzip", 0)
consumer.assign([tp])
consumer.seek_to_beginning(tp)
values = []
deadline = time.time() + 30
while len(values) < 100 and time.time() < deadline:
    for batch in consumer.poll(timeout_ms=1000).values():
        values.extend(r.value for r in batch)
consumer.close()
check(values == [f"gz-{i}".encode() * 20 for i in range(100)], "gzip records read back differ")
print("ok: kafka-python compression_type=gzip: 100 records produced and read back exactly")
