"""confluent-kafka rebalances against Brook's coordinator, each with member processes that log
their assignments, revocations, records and commits as JSON lines:

- cooperative: librdkafka's cooperative-sticky. When a second member joins, only some partitions
  move, and the first member consumes the partitions it keeps throughout the rebalance.
- static: a member with group.instance.id restarted within its session timeout gets the same
  partitions back, and the other member sees no rebalance at all.
- sigkill: a member killed with SIGKILL loses its partitions to the other after its session
  timeout; the other starts each at the dead member's last commit, so nothing below a commit is
  delivered again and nothing is skipped.

    python confluent_rebalance_check.py KAFKA SCENARIO TOPIC WORKDIR
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

kafka, scenario, topic, work = sys.argv[1:5]
PARTITIONS = 6
SESSION_MS = 6000


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: confluent-kafka {scenario}: {message}")


def member(name, options):
    """Consumes, committing each record synchronously (options: strategy, instance)."""
    log = open(os.path.join(work, f"{name}.log"), "a", buffering=1)

    def event(kind, **fields):
        log.write(json.dumps({"kind": kind, "member": name, "at": time.monotonic(), "pid": os.getpid(), **fields}) + "\n")

    config = {
        "bootstrap.servers": kafka, "group.id": f"{scenario}-group", "client.id": name, "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 300,
        "partition.assignment.strategy": options.get("strategy", "range"),
    }
    if options.get("instance"):
        config["group.instance.id"] = options["instance"]
    consumer = Consumer(config)
    consumer.subscribe(
        [topic],
        on_assign=lambda c, parts: event("assign", partitions=sorted(p.partition for p in parts)),
        on_revoke=lambda c, parts: event("revoke", partitions=sorted(p.partition for p in parts)),
        on_lost=lambda c, parts: event("lost", partitions=sorted(p.partition for p in parts)))
    event("started")
    stop = os.path.join(work, f"stop-{name}")
    while not os.path.exists(stop):
        msg = consumer.poll(0.1)
        if msg is None or msg.error():
            continue
        event("record", partition=msg.partition(), offset=msg.offset())
        try:
            consumer.commit(message=msg, asynchronous=False)
        except KafkaException as error:
            # As with Kafka: a commit between a rebalance's join and sync is refused; the next
            # record's commit covers this one.
            if error.args[0].code() != KafkaError.REBALANCE_IN_PROGRESS:
                raise
            event("commit-refused", partition=msg.partition(), offset=msg.offset() + 1)
            continue
        event("committed", partition=msg.partition(), offset=msg.offset() + 1)
    consumer.close()
    event("closed")


def spawn(name, **options):
    return subprocess.Popen([sys.executable, __file__, kafka, scenario, topic, work, "member", name, json.dumps(options)])


def events(name):
    path = os.path.join(work, f"{name}.log")
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.endswith("\n")]


def wait_for(condition, what, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        check(time.monotonic() < deadline, f"no {what} within {seconds} s")
        time.sleep(0.1)


def owned(name):
    """The partitions a member holds now, from its assign/revoke/lost events."""
    held = set()
    for e in events(name):
        if e["kind"] == "assign":
            held |= set(e["partitions"])
        elif e["kind"] in ("revoke", "lost"):
            held -= set(e["partitions"])
    return held


class Producing:
    """Produces a record to every partition every 20 ms until stopped."""

    def __init__(self):
        self.running = True
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        producer = Producer({"bootstrap.servers": kafka, "linger.ms": 5})
        i = 0
        while self.running:
            for p in range(PARTITIONS):
                producer.produce(topic, value=f"r{i}", partition=p)
            i += 1
            producer.poll(0)
            time.sleep(0.02)
        producer.flush(10)

    def stop(self):
        self.running = False
        self.thread.join()


def stop(name, process):
    open(os.path.join(work, f"stop-{name}"), "w").close()
    check(process.wait(60) == 0, f"member {name} failed")


def cooperative():
    producing = Producing()
    a = spawn("a", strategy="cooperative-sticky")
    wait_for(lambda: owned("a") == set(range(PARTITIONS)), "assignment of every partition to the first member")
    joined_at = time.monotonic()
    b = spawn("b", strategy="cooperative-sticky")
    wait_for(lambda: owned("b") and len(owned("a")) + len(owned("b")) == PARTITIONS, "assignment to the second member")
    b_assigned = min(e["at"] for e in events("b") if e["kind"] == "assign" and e["partitions"])
    time.sleep(1)
    kept, moved = owned("a"), owned("b")
    producing.stop()
    stop("a", a)
    stop("b", b)

    check(kept and moved and not kept & moved, f"the first member kept {kept}, the second got {moved}")
    a_log = events("a")
    revoked = [set(e["partitions"]) for e in a_log if e["kind"] == "revoke" and e["at"] < b_assigned + 0.5]
    check(revoked and all(r <= moved for r in revoked), f"the first member's revocations {revoked} went beyond the partitions that moved {moved}")
    during = [e for e in a_log if e["kind"] == "record" and joined_at < e["at"] < b_assigned and e["partition"] in kept]
    check(during, f"the first member read nothing from its kept partitions {sorted(kept)} while the second joined ({b_assigned - joined_at:.2f} s)")
    print(f"ok: confluent-kafka cooperative-sticky: a joining member took {sorted(moved)}; the first kept {sorted(kept)} "
          f"and read {len(during)} records from them during the {b_assigned - joined_at:.2f} s rebalance")


def static():
    a = spawn("a", instance="static-a")
    b = spawn("b", instance="static-b")
    wait_for(lambda: owned("a") and owned("b") and len(owned("a")) + len(owned("b")) == PARTITIONS, "the two static members' assignment")
    time.sleep(1)
    before_a, before_b = owned("a"), owned("b")
    b_events = len([e for e in events("b") if e["kind"] in ("assign", "revoke", "lost")])
    a.send_signal(signal.SIGKILL)
    a.wait()
    restarted_at = time.monotonic()
    a = spawn("a", instance="static-a")
    wait_for(lambda: any(e["kind"] == "assign" and e["at"] > restarted_at for e in events("a")), "the restarted member's assignment")
    time.sleep(2)
    after = set()
    for e in events("a"):
        if e["at"] > restarted_at and e["kind"] == "assign":
            after |= set(e["partitions"])
    check(after == before_a, f"the restarted static member got {sorted(after)}, before it had {sorted(before_a)}")
    b_after = len([e for e in events("b") if e["kind"] in ("assign", "revoke", "lost")])
    check(b_after == b_events and owned("b") == before_b, "the other static member saw a rebalance")
    stop("a", a)
    stop("b", b)
    print(f"ok: confluent-kafka static membership: restarted within the session timeout, group.instance.id static-a got {sorted(after)} "
          f"back and the other member saw no rebalance")


def sigkill():
    producer = Producer({"bootstrap.servers": kafka})
    for i in range(300):
        producer.produce(topic, value=f"r{i}", partition=i % PARTITIONS)
    producer.flush(10)
    a = spawn("a")
    b = spawn("b")
    wait_for(lambda: owned("a") and owned("b") and len(owned("a")) + len(owned("b")) == PARTITIONS, "the two members' assignment")
    producing = Producing()
    wait_for(lambda: sum(1 for e in events("b") if e["kind"] == "committed") > 50, "commits by the member to be killed")
    b.send_signal(signal.SIGKILL)
    b.wait()
    killed_at = time.monotonic()
    lost = owned("b")
    b_log = events("b")
    wait_for(lambda: lost <= owned("a"), "the killed member's partitions moving", seconds=SESSION_MS / 1000 + 60)
    producing.stop()
    wait_for(lambda: all(any(e["kind"] == "record" and e["partition"] == p and e["at"] > killed_at for e in events("a")) for p in lost),
             "records of every moved partition read by their new owner")
    stop("a", a)
    a_log = events("a")
    moved_at = min(e["at"] for e in a_log if e["kind"] == "assign" and set(e["partitions"]) & lost and e["at"] > killed_at)
    for p in sorted(lost):
        last_commit = max((e["offset"] for e in b_log if e["kind"] == "committed" and e["partition"] == p), default=0)
        last_read = max((e["offset"] for e in b_log if e["kind"] == "record" and e["partition"] == p), default=-1)
        first = min(e["offset"] for e in a_log if e["kind"] == "record" and e["partition"] == p and e["at"] > killed_at)
        check(first >= last_commit, f"partition {p}: offset {first} read again below the dead member's commit {last_commit}")
        check(first <= last_read + 1, f"partition {p}: the new owner started at {first}, after the dead member's last record {last_read}")
    print(f"ok: confluent-kafka SIGKILL: partitions {sorted(lost)} moved {moved_at - killed_at:.1f} s after the kill "
          f"(session timeout {SESSION_MS / 1000:.0f} s); each resumed at the dead member's last commit")


if len(sys.argv) > 5 and sys.argv[5] == "member":
    member(sys.argv[6], json.loads(sys.argv[7]))
else:
    {"cooperative": cooperative, "static": static, "sigkill": sigkill}[scenario]()
