"""confluent-kafka (librdkafka 2.x): an idempotent acks=all producer, then a Consumer with
manual assign() reading every record back with its key, headers and timestamp."""
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

kafka = sys.argv[1]
TOPIC, PARTITIONS, COUNT = "confluent-topic", 3, 300


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: confluent-kafka: {message}")


base = int(time.time() * 1000) - 60_000
reports = []
producer = Producer({"bootstrap.servers": kafka, "acks": "all", "enable.idempotence": True, "linger.ms": 5})
for i in range(COUNT):
    producer.produce(
        TOPIC, key=f"k{i}", value=f"value-{i}", headers=[("i", str(i).encode()), ("kind", b"confluent")],
        timestamp=base + i, on_delivery=lambda err, msg: reports.append((err, msg)))
    producer.poll(0)
check(producer.flush(30) == 0, "records left unflushed")
check(len(reports) == COUNT, f"{len(reports)} delivery reports, expected {COUNT}")
errors = [err for err, _ in reports if err is not None]
check(not errors, f"delivery errors: {errors[:3]}")

# Offsets are contiguous from 0 in each partition, in produce order.
placed = {}
by_partition = {}
for _, msg in reports:
    i = int(msg.key().decode()[1:])
    placed[i] = (msg.partition(), msg.offset())
    by_partition.setdefault(msg.partition(), []).append((i, msg.offset()))
for partition, entries in by_partition.items():
    entries.sort()
    check([o for _, o in entries] == list(range(len(entries))), f"partition {partition} offsets are not 0..n-1 in produce order")
print(f"ok: confluent-kafka idempotent acks=all produced {COUNT} records to partitions "
      f"{sorted((p, len(e)) for p, e in by_partition.items())}")

consumer = Consumer({"bootstrap.servers": kafka, "group.id": "confluent-check", "enable.auto.commit": False})
consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
seen = {}
deadline = time.time() + 30
while len(seen) < COUNT and time.time() < deadline:
    msg = consumer.poll(1.0)
    if msg is None:
        continue
    check(msg.error() is None, f"consume error {msg.error()}")
    i = int(msg.key().decode()[1:])
    check(i not in seen, f"record {i} read twice")
    seen[i] = msg
check(len(seen) == COUNT, f"read back {len(seen)} of {COUNT}")
for i, msg in seen.items():
    check(msg.value() == f"value-{i}".encode(), f"record {i} value {msg.value()!r}")
    check(msg.headers() == [("i", str(i).encode()), ("kind", b"confluent")], f"record {i} headers {msg.headers()}")
    check(msg.timestamp() == (1, base + i), f"record {i} timestamp {msg.timestamp()}, expected {(1, base + i)}")
    check((msg.partition(), msg.offset()) == placed[i], f"record {i} at {(msg.partition(), msg.offset())}, acked at {placed[i]}")
print(f"ok: confluent-kafka Consumer assign() read all {COUNT} records back with keys, headers and timestamps")

for p in range(PARTITIONS):
    low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
    check((low, high) == (0, len(by_partition.get(p, []))), f"partition {p} watermarks {(low, high)}")
# Offsets by time: the first record at or after record 150's timestamp.
p150, _ = placed[150]
expected = min(o for i, o in ((i, placed[i][1]) for i in placed if placed[i][0] == p150) if i >= 150)
[listed] = consumer.offsets_for_times([TopicPartition(TOPIC, p150, base + 150)], timeout=10)
check(listed.offset == expected, f"offsets_for_times gave {listed.offset}, expected {expected}")
print("ok: confluent-kafka watermarks and offsets_for_times")
consumer.close()

# A record over the topic's max.message.bytes is refused with MESSAGE_TOO_LARGE.
outcome = []
plain = Producer({"bootstrap.servers": kafka, "acks": "1", "message.max.bytes": 1_000_000})
plain.produce("small-topic", value=b"x" * 200, on_delivery=lambda err, msg: outcome.append(err))
plain.flush(30)
check(len(outcome) == 1 and outcome[0] is not None and outcome[0].code() == KafkaError.MSG_SIZE_TOO_LARGE,
      f"oversize record outcome {outcome}")
print("ok: confluent-kafka record over max.message.bytes refused with MESSAGE_TOO_LARGE")

# Every codec a producer may set, through an idempotent acks=all producer, read back exactly.
for codec in ["gzip", "snappy", "lz4", "zstd"]:
    topic = f"codec-{codec}"
    reports.clear()
    producer = Producer({"bootstrap.servers": kafka, "acks": "all", "enable.idempotence": True,
                         "compression.type": codec, "linger.ms": 20})
    for i in range(200):
        producer.produce(topic, key=f"k{i}", value=(f"{codec}-{i}-" + "abc" * (i % 40)).encode(), headers=[("c", codec.encode())],
                         on_delivery=lambda err, msg: reports.append((err, msg)))
    check(producer.flush(30) == 0, f"{codec}: records left unflushed")
    check(len(reports) == 200 and all(err is None for err, _ in reports), f"{codec}: delivery errors {[e for e, _ in reports if e][:3]}")
    check(sorted(msg.offset() for _, msg in reports) == list(range(200)), f"{codec}: offsets are not 0..199")
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": "codec-check", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 30
    while len(got) < 200 and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        check(msg.error() is None, f"{codec}: consume error {msg.error()}")
        got.append(msg)
    consumer.close()
    check([(m.key(), m.value(), m.headers()) for m in got] ==
          [(f"k{i}".encode(), (f"{codec}-{i}-" + "abc" * (i % 40)).encode(), [("c", codec.encode())]) for i in range(200)],
          f"{codec}: records read back differ")
    print(f"ok: confluent-kafka compression.type={codec}: 200 records produced and read back exactly")
