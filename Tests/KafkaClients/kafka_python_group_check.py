"""kafka-python consumer groups: a group consumer with auto-commit reads every record, and
KafkaAdminClient lists, describes and deletes the group (deleting is refused while it has a
member, as Kafka refuses it)."""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

kafka, topic = sys.argv[1], sys.argv[2]
GROUP, COUNT = "kafka-python-group", 200


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: kafka-python group: {message}")


producer = KafkaProducer(bootstrap_servers=kafka)
for i in range(COUNT):
    producer.send(topic, key=b"k%d" % i, value=b"kp-%d" % i)
producer.flush()
producer.close()

consumer = KafkaConsumer(
    topic, bootstrap_servers=kafka, group_id=GROUP, client_id="kp-member", auto_offset_reset="earliest",
    enable_auto_commit=True, auto_commit_interval_ms=200)
seen = []
deadline = time.time() + 60
while len([v for v in seen if v.startswith(b"kp-")]) < COUNT:
    check(time.time() < deadline, f"{len(seen)} records in 60 s")
    for records in consumer.poll(500).values():
        seen += [r.value for r in records]
ours = [v for v in seen if v.startswith(b"kp-")]
check(sorted(ours) == sorted(b"kp-%d" % i for i in range(COUNT)), "records missing or repeated")
partitions = consumer.partitions_for_topic(topic)
ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
# Auto-commit runs in poll(); poll until the commits reach every partition's end.
admin = KafkaAdminClient(bootstrap_servers=kafka)
deadline = time.time() + 30
while True:
    consumer.poll(100)
    committed = admin.list_group_offsets({GROUP: None})[GROUP]
    if {tp: om.offset for tp, om in committed.items()} == ends:
        break
    check(time.time() < deadline, f"auto-commit did not reach the ends {ends}: {committed}")
print(f"ok: kafka-python group consumer with auto-commit read {len(seen)} records and committed every partition's end")

listed = {g["group_id"]: g["protocol_type"] for g in admin.list_groups()}
check(listed.get(GROUP) == "consumer", f"list_groups: {listed}")
described = admin.describe_groups([GROUP])[GROUP]
check(described["error"] is None and described["group_state"] == "Stable", f"describe_groups: {described}")
members = described["members"]
check(len(members) == 1, f"describe_groups members: {members}")
member = members[0]
check(member["client_id"] == "kp-member" and member["client_host"] == "/127.0.0.1", f"member client and host: {member}")
check(member["member_metadata"]["topics"] == [topic], f"member subscription: {member['member_metadata']}")
assigned = {p for a in member["member_assignment"]["assigned_partitions"] for p in a["partitions"]}
check(assigned == set(partitions), f"member assignment {assigned}, topic partitions {partitions}")
print(f"ok: kafka-python admin lists the group and describes its member (client kp-member, host /127.0.0.1, partitions {sorted(assigned)})")

result = admin.delete_groups([GROUP])
check(result == {GROUP: "NonEmptyGroupError"}, f"delete_groups of a group with a member: {result}")
consumer.close()
check(admin.describe_groups([GROUP])[GROUP]["group_state"] == "Empty", "the group is not Empty after its member closed")
result = admin.delete_groups([GROUP])
check(result == {GROUP: "OK"}, f"delete_groups: {result}")
check(GROUP not in {g["group_id"] for g in admin.list_groups()}, "the deleted group is still listed")
check(admin.list_group_offsets({GROUP: None})[GROUP] == {}, "the deleted group still has committed offsets")
print("ok: kafka-python admin refuses to delete a group with a member, then deletes it once empty")
admin.close()
