"""confluent-kafka consumer groups: three consumer processes in one group on a six-partition topic,
committing by hand after each record. Every record is consumed, each partition has one owner at a
time (assignment intervals never overlap), and the commits reach the group's committed offsets
(AdminClient.list_consumer_group_offsets; run.sh then checks `brook groups describe`).

    python confluent_group_check.py KAFKA TOPIC GROUP WORKDIR        (the test)
    python confluent_group_check.py KAFKA TOPIC GROUP WORKDIR member N   (one member)
"""
import json
import os
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka import ConsumerGroupTopicPartitions

kafka, topic, group, work = sys.argv[1:5]
PARTITIONS, COUNT, MEMBERS = 6, 600, 3


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: confluent-kafka group: {message}")


def member(number):
    """Consumes and commits each record; logs assignments, revocations and records as JSON lines."""
    log = open(os.path.join(work, f"member-{number}.log"), "a", buffering=1)

    def event(kind, **fields):
        log.write(json.dumps({"kind": kind, "member": number, "at": time.monotonic(), **fields}) + "\n")

    consumer = Consumer({
        "bootstrap.servers": kafka, "group.id": group, "client.id": f"member-{number}", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
    })
    consumer.subscribe(
        [topic],
        on_assign=lambda c, parts: event("assign", partitions=[p.partition for p in parts]),
        on_revoke=lambda c, parts: event("revoke", partitions=[p.partition for p in parts]))
    stop = os.path.join(work, "stop")
    while not os.path.exists(stop):
        msg = consumer.poll(0.2)
        if msg is None or msg.error():
            continue
        event("record", partition=msg.partition(), offset=msg.offset(), value=msg.value().decode())
        consumer.commit(message=msg, asynchronous=False)
        time.sleep(0.01)  # slow enough that the later members join while records remain
    consumer.close()
    event("closed")


def main():
    producer = Producer({"bootstrap.servers": kafka})
    for i in range(COUNT):
        producer.produce(topic, key=f"k{i}", value=f"v{i}")
    check(producer.flush(30) == 0, "records left unflushed")

    # The members start one after another, so the group rebalances as each joins.
    members = []
    for number in range(MEMBERS):
        members.append(subprocess.Popen([sys.executable, __file__, kafka, topic, group, work, "member", str(number)]))
        time.sleep(2)

    def events():
        found = []
        for number in range(MEMBERS):
            path = os.path.join(work, f"member-{number}.log")
            if os.path.exists(path):
                found += [json.loads(line) for line in open(path) if line.endswith("\n")]
        return found

    deadline = time.monotonic() + 120
    while len({e["value"] for e in events() if e["kind"] == "record"}) < COUNT:
        check(time.monotonic() < deadline, f"only {len({e['value'] for e in events() if e['kind'] == 'record'})} of {COUNT} records consumed in 120 s")
        check(all(m.poll() is None for m in members), "a member exited early")
        time.sleep(0.2)

    # The commits, seen by an admin client while the members are still in the group.
    admin = AdminClient({"bootstrap.servers": kafka})
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    listed = {tp.partition: tp.offset for tp in future.result(30).topic_partitions if tp.topic == topic}
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": "watermarks"})
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)}
    consumer.close()
    check(listed == ends, f"committed offsets {listed} are not the log ends {ends}")
    print(f"ok: confluent-kafka group: list_consumer_group_offsets shows every partition committed to its end {ends}")

    # describe_consumer_groups: the three members, their client ids and hosts, and assignments
    # that share the partitions out (once the last join's rebalance is done).
    deadline = time.monotonic() + 60
    while True:
        described = admin.describe_consumer_groups([group])[group].result(30)
        if str(described.state) == "ConsumerGroupState.STABLE" and len(described.members) == MEMBERS:
            break
        check(time.monotonic() < deadline, f"the group is {described.state} with {len(described.members)} members")
        time.sleep(0.2)
    shown = sorted((m.client_id, m.host, sorted(tp.partition for tp in m.assignment.topic_partitions)) for m in described.members)
    check([m[:2] for m in shown] == [(f"member-{n}", "/127.0.0.1") for n in range(MEMBERS)], f"members {shown}")
    check(sorted(p for m in shown for p in m[2]) == list(range(PARTITIONS)), f"assignments {shown}")
    listed = {g.group_id: g.is_simple_consumer_group for g in admin.list_consumer_groups().result(30).valid}
    check(listed.get(group) is False, f"list_consumer_groups: {listed}")
    print(f"ok: confluent-kafka AdminClient lists the group and describes its members {shown}")

    open(os.path.join(work, "stop"), "w").close()
    for m in members:
        check(m.wait(60) == 0, "a member failed")

    log = sorted(events(), key=lambda e: e["at"])
    records = [e for e in log if e["kind"] == "record"]
    values = [e["value"] for e in records]
    check(sorted(set(values), key=lambda v: int(v[1:])) == [f"v{i}" for i in range(COUNT)], "records missing")
    check(len(values) == COUNT, f"{len(values) - COUNT} records delivered twice although each was committed before the next")
    consumers = {e["member"] for e in records}
    check(len(consumers) == MEMBERS, f"only members {sorted(consumers)} consumed anything")

    # Each partition has at most one owner at any time, and records come only from its owner.
    owner = {}
    for e in log:
        if e["kind"] == "assign":
            for p in e["partitions"]:
                check(owner.get(p) in (None, e["member"]), f"partition {p} assigned to member {e['member']} while member {owner.get(p)} owns it")
                owner[p] = e["member"]
        elif e["kind"] == "revoke":
            for p in e["partitions"]:
                if owner.get(p) == e["member"]:
                    del owner[p]
        elif e["kind"] == "record":
            check(owner.get(e["partition"]) == e["member"], f"member {e['member']} read partition {e['partition']} it does not own")
    rebalances = sum(1 for e in log if e["kind"] == "assign")
    print(f"ok: confluent-kafka group: {MEMBERS} members consumed all {COUNT} records once, {rebalances} assignments, one owner per partition at a time")


if len(sys.argv) > 5 and sys.argv[5] == "member":
    member(int(sys.argv[6]))
else:
    main()
