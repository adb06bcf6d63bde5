"""Topic configs message.timestamp.type and compression.type with real clients: AdminClient
creates, describes and alters them; confluent-kafka and kafka-python consumers read topics whose
fetches Brook compresses with zstd, lz4, gzip and snappy; under LogAppendTime both consumers and the
producer's delivery reports see the broker's append time, flagged as such."""
import sys
import time

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as PyTopicPartition

kafka = sys.argv[1]
admin = AdminClient({"bootstrap.servers": kafka})
COUNT = 300
CODECS = ["zstd", "lz4", "gzip", "snappy"]


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: topic configs: {message}")


def topic_configs(name):
    [(_, future)] = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)]).items()
    return {key: entry.value for key, entry in future.result(timeout=15).items()}


def produce(topic, count, timestamp=None):
    """Uncompressed records from the producer: any compression on fetch is Brook's."""
    producer = Producer({"bootstrap.servers": kafka, "compression.type": "none", "linger.ms": 5})
    reports = []
    for i in range(count):
        value = f"{topic} record {i} " + "z" * 60
        kwargs = {"timestamp": timestamp} if timestamp is not None else {}
        producer.produce(topic, value.encode(), on_delivery=lambda error, message: reports.append((error, message)), **kwargs)
    check(producer.flush(30) == 0, f"{topic}: records left unsent")
    check(all(error is None for error, _ in reports), f"{topic}: delivery errors {[e for e, _ in reports if e]}")
    return [message for _, message in reports]


def confluent_read(topic, count):
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    messages = []
    deadline = time.time() + 30
    while len(messages) < count and time.time() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        check(message.error() is None, f"{topic}: confluent consumer error {message.error()}")
        messages.append(message)
    consumer.close()
    check(len(messages) == count, f"{topic}: confluent-kafka read {len(messages)} of {count}")
    return messages


def kafka_python_read(topic, count):
    consumer = KafkaConsumer(bootstrap_servers=kafka, group_id=None, enable_auto_commit=False)
    partition = PyTopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    records = []
    deadline = time.time() + 30
    while len(records) < count and time.time() < deadline:
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
    consumer.close()
    check(len(records) == count, f"{topic}: kafka-python read {len(records)} of {count}")
    return records


# compression.type: set at creation for each codec, read back by both consumers.
futures = admin.create_topics([
    NewTopic(f"compressed-{codec}", num_partitions=1, replication_factor=1, config={"compression.type": codec}) for codec in CODECS
])
for name, future in futures.items():
    future.result(timeout=15)
for codec in CODECS:
    topic = f"compressed-{codec}"
    check(topic_configs(topic)["compression.type"] == codec, f"{topic}: describe_configs shows {topic_configs(topic)['compression.type']}")
    produce(topic, COUNT)
    expected = [f"{topic} record {i} ".encode() + b"z" * 60 for i in range(COUNT)]
    got = confluent_read(topic, COUNT)
    check([m.value() for m in got] == expected, f"{topic}: confluent-kafka values differ")
    check([m.offset() for m in got] == list(range(COUNT)), f"{topic}: confluent-kafka offsets differ")
    got = kafka_python_read(topic, COUNT)
    check([r.value for r in got] == expected, f"{topic}: kafka-python values differ")
    print(f"ok: compression.type={codec}: confluent-kafka and kafka-python read {COUNT} records back")

# Altered later: the next fetch follows the new codec; an unknown codec is refused.
[(_, future)] = admin.incremental_alter_configs([ConfigResource(ConfigResource.Type.TOPIC, "compressed-zstd", incremental_configs=[
    ConfigEntry("compression.type", "gzip", incremental_operation=AlterConfigOpType.SET)])]).items()
future.result(timeout=15)
check(topic_configs("compressed-zstd")["compression.type"] == "gzip", "incremental_alter_configs did not set gzip")
check(len(kafka_python_read("compressed-zstd", COUNT)) == COUNT, "kafka-python after the alter")
[(_, future)] = admin.incremental_alter_configs([ConfigResource(ConfigResource.Type.TOPIC, "compressed-zstd", incremental_configs=[
    ConfigEntry("compression.type", "brotli", incremental_operation=AlterConfigOpType.SET)])]).items()
try:
    future.result(timeout=15)
    check(False, "compression.type=brotli was accepted")
except KafkaException as exception:
    check(exception.args[0].code() == 40, f"compression.type=brotli gave {exception.args[0]}")  # INVALID_CONFIG
print("ok: compression.type altered to gzip and read back; brotli refused with INVALID_CONFIG")

# message.timestamp.type=LogAppendTime: the producer's old timestamp is replaced by the append time.
admin.create_topics([NewTopic("stamped", num_partitions=1, replication_factor=1, config={"message.timestamp.type": "LogAppendTime"})])["stamped"].result(timeout=15)
check(topic_configs("stamped")["message.timestamp.type"] == "LogAppendTime", "describe_configs does not show LogAppendTime")
before = int(time.time() * 1000)
reports = produce("stamped", 20, timestamp=1_000)
after = int(time.time() * 1000)
kinds = {message.timestamp()[0] for message in reports}
check(kinds == {TIMESTAMP_LOG_APPEND_TIME}, f"delivery reports' timestamp types {kinds}")
check(all(before <= message.timestamp()[1] <= after for message in reports), f"delivery reports' times {[m.timestamp() for m in reports][:3]}")
for message in confluent_read("stamped", 20):
    kind, stamp = message.timestamp()
    check(kind == TIMESTAMP_LOG_APPEND_TIME and before <= stamp <= after, f"confluent-kafka timestamp {message.timestamp()}")
for record in kafka_python_read("stamped", 20):
    check(record.timestamp_type == 1 and before <= record.timestamp <= after, f"kafka-python timestamp {record.timestamp_type} {record.timestamp}")
print("ok: message.timestamp.type=LogAppendTime: delivery reports and both consumers see the append time")
