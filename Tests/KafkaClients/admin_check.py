"""confluent-kafka's AdminClient: create topics (with configs, and the default partition count),
describe them, add partitions, describe configs, delete; and what Brook refuses."""
import sys

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic

kafka = sys.argv[1]
admin = AdminClient({"bootstrap.servers": kafka})


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: AdminClient: {message}")


def error_of(future):
    try:
        future.result(timeout=15)
        return None
    except KafkaException as exception:
        return exception.args[0]


futures = admin.create_topics([
    NewTopic("admin-a", num_partitions=2, replication_factor=1, config={"retention.ms": "3600000", "max.message.bytes": "2048"}),
    NewTopic("admin-b", num_partitions=-1, replication_factor=-1),
])
for name, future in futures.items():
    check(error_of(future) is None, f"create {name}: {error_of(future)}")
topics = admin.list_topics(timeout=15).topics
check(len(topics["admin-a"].partitions) == 2, f"admin-a has {len(topics['admin-a'].partitions)} partitions")
check(len(topics["admin-b"].partitions) == 1, f"admin-b (default partitions) has {len(topics['admin-b'].partitions)}")
print("ok: AdminClient created topics with 2 and the default partitions")

error = error_of(admin.create_topics([NewTopic("admin-a", num_partitions=1, replication_factor=1)])["admin-a"])
check(error is not None and error.code() == KafkaError.TOPIC_ALREADY_EXISTS, f"second create gave {error}")
error = error_of(admin.create_topics([NewTopic("admin-c", num_partitions=1, replication_factor=3)])["admin-c"])
check(error is not None and error.code() == KafkaError.INVALID_REPLICATION_FACTOR, f"replication factor 3 gave {error}")
error = error_of(admin.create_topics([NewTopic("admin-c", num_partitions=1, replication_factor=1, config={"cleanup.policy": "compact"})])["admin-c"])
check(error is not None and error.code() == KafkaError.INVALID_CONFIG, f"cleanup.policy=compact gave {error}")
error = error_of(admin.create_topics([NewTopic("admin-c", num_partitions=1, replication_factor=1, config={"no.such.config": "1"})])["admin-c"])
check(error is not None and error.code() == KafkaError.INVALID_CONFIG, f"an unknown config gave {error}")
check("admin-c" not in admin.list_topics(timeout=15).topics, "a refused topic was created")
print("ok: AdminClient refusals: TOPIC_ALREADY_EXISTS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG (compact, unknown)")

[(resource, future)] = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "admin-a")]).items()
configs = future.result(timeout=15)
values = {name: entry.value for name, entry in configs.items()}
check(values.get("retention.ms") == "3600000", f"retention.ms {values.get('retention.ms')}")
check(values.get("max.message.bytes") == "2048", f"max.message.bytes {values.get('max.message.bytes')}")
check(values.get("retention.bytes") == "-1" and configs["retention.bytes"].is_default, "retention.bytes is not the default -1")
check(values.get("cleanup.policy") == "delete", f"cleanup.policy {values.get('cleanup.policy')}")
check(not configs["retention.ms"].is_default, "retention.ms set at creation shows as default")
print(f"ok: AdminClient describe_configs: {sorted(values.items())}")

def topic_configs(name):
    [(_, future)] = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)]).items()
    return {key: entry.value for key, entry in future.result(timeout=15).items()}


# IncrementalAlterConfigs: set one, delete one back to its default; the rest stay.
[(_, future)] = admin.incremental_alter_configs([ConfigResource(ConfigResource.Type.TOPIC, "admin-a", incremental_configs=[
    ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
    ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
])]).items()
check(error_of(future) is None, f"incremental_alter_configs: {error_of(future)}")
values = topic_configs("admin-a")
check((values["retention.ms"], values["max.message.bytes"]) == ("7200000", "1048576"), f"after incremental alter: {values}")
# AlterConfigs replaces the whole set: what it does not name returns to the default.
[(_, future)] = admin.alter_configs([ConfigResource(ConfigResource.Type.TOPIC, "admin-a", set_config={"retention.bytes": "1000000"})]).items()
check(error_of(future) is None, f"alter_configs: {error_of(future)}")
values = topic_configs("admin-a")
check((values["retention.bytes"], values["retention.ms"]) == ("1000000", "604800000"), f"after alter: {values}")
[(_, future)] = admin.incremental_alter_configs([ConfigResource(ConfigResource.Type.TOPIC, "admin-a", incremental_configs=[
    ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)])]).items()
error = error_of(future)
check(error is not None and error.code() == KafkaError.INVALID_CONFIG, f"cleanup.policy=compact gave {error}")
check(topic_configs("admin-a")["retention.bytes"] == "1000000", "a refused alter changed the topic")
print("ok: AdminClient incremental_alter_configs (set, delete) and alter_configs (whole set); compact refused")

future = admin.create_partitions([NewPartitions("admin-a", 5)])["admin-a"]
check(error_of(future) is None, f"create_partitions: {error_of(future)}")
check(len(admin.list_topics(timeout=15).topics["admin-a"].partitions) == 5, "admin-a did not grow to 5 partitions")
error = error_of(admin.create_partitions([NewPartitions("admin-a", 3)])["admin-a"])
check(error is not None and error.code() == KafkaError.INVALID_PARTITIONS, f"shrinking gave {error}")
print("ok: AdminClient create_partitions grew admin-a to 5; shrinking is INVALID_PARTITIONS")

# DeleteRecords: the log start moves to the offset; a consumer from the beginning starts there.
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

producer = Producer({"bootstrap.servers": kafka})
for i in range(10):
    producer.produce("admin-b", value=f"r{i}".encode(), partition=0)
check(producer.flush(15) == 0, "records for delete_records left unflushed")
[(_, future)] = admin.delete_records([TopicPartition("admin-b", 0, 6)]).items()
deleted = future.result(timeout=15)
check(deleted.low_watermark == 6, f"delete_records low watermark {deleted.low_watermark}")
consumer = Consumer({"bootstrap.servers": kafka, "group.id": "unused", "enable.auto.commit": False})
check(consumer.get_watermark_offsets(TopicPartition("admin-b", 0), timeout=10) == (6, 10), "watermarks after delete_records")
consumer.assign([TopicPartition("admin-b", 0, -2)])  # OFFSET_BEGINNING
got = []
while len(got) < 4:
    msg = consumer.poll(10)
    check(msg is not None and msg.error() is None, f"consume after delete_records: {msg and msg.error()}")
    got.append((msg.offset(), msg.value()))
consumer.close()
check(got == [(i, f"r{i}".encode()) for i in range(6, 10)], f"after delete_records read {got}")
print("ok: AdminClient delete_records moved the log start to 6; a consumer from the beginning starts there")

for name, future in admin.delete_topics(["admin-a", "admin-b"]).items():
    check(error_of(future) is None, f"delete {name}: {error_of(future)}")
remaining = admin.list_topics(timeout=15).topics
check("admin-a" not in remaining and "admin-b" not in remaining, "deleted topics are still listed")
error = error_of(admin.delete_topics(["admin-a"])["admin-a"])
check(error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, f"deleting again gave {error}")
print("ok: AdminClient delete_topics; deleting again is UNKNOWN_TOPIC_OR_PART")
