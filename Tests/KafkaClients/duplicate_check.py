"""At-least-once over the Kafka protocol, the scenario docs/guarantees.md explains: a confluent-kafka
consumer with auto-commit (offsets stored after processing, librdkafka's at-least-once pattern)
takes a batch of ten records; the auto-commit fires after the 8th; it processes the 9th and dies
(SIGKILL) on the 10th. After the rebalance the next consumer of the group starts at the 9th: the
9th is delivered twice, nothing is lost.

    python duplicate_check.py KAFKA TOPIC            (the test: prints what each consumer did)
    python duplicate_check.py KAFKA TOPIC first      (the consumer that dies)
"""
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

kafka, topic = sys.argv[1], sys.argv[2]
GROUP = "duplicate-group"


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: duplicate scenario: {message}")


def consumer():
    return Consumer({
        "bootstrap.servers": kafka, "group.id": GROUP, "auto.offset.reset": "earliest", "enable.auto.commit": True,
        "auto.commit.interval.ms": 500, "enable.auto.offset.store": False, "session.timeout.ms": 6000,
    })


def committed(c):
    return c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset


def first():
    c = consumer()
    c.subscribe([topic])
    batch = []
    while len(batch) < 10:
        batch += [m for m in c.consume(num_messages=10 - len(batch), timeout=1) if not m.error()]
    for number, msg in enumerate(batch, start=1):
        if number == 10:
            print(f"first: dies on record {number} (offset {msg.offset()})", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        print(f"first: processed record {number} (offset {msg.offset()}, {msg.value().decode()})", flush=True)
        c.store_offsets(message=msg)
        if number == 8:
            # Auto-commit runs on librdkafka's timer: wait until it has committed the 8th.
            deadline = time.monotonic() + 30
            while committed(c) != msg.offset() + 1:
                check(time.monotonic() < deadline, "auto-commit never committed the 8th record")
                c.poll(0.1)
            print(f"first: auto-commit fired, committed offset {msg.offset() + 1}", flush=True)


def main():
    producer = Producer({"bootstrap.servers": kafka})
    for i in range(20):
        producer.produce(topic, value=f"record-{i + 1}", partition=0)
    check(producer.flush(10) == 0, "records left unflushed")

    run = subprocess.run([sys.executable, __file__, kafka, topic, "first"], capture_output=True, text=True, timeout=120)
    print(run.stdout, end="")
    check(run.returncode == -signal.SIGKILL, f"the first consumer exited {run.returncode}: {run.stderr}")
    first_processed = [line for line in run.stdout.splitlines() if "processed" in line]
    check(len(first_processed) == 9, f"the first consumer processed {len(first_processed)} records")

    c = consumer()
    c.subscribe([topic])
    msg = None
    deadline = time.monotonic() + 60
    while msg is None or msg.error():
        check(time.monotonic() < deadline, "the next consumer got nothing in 60 s")
        msg = c.poll(0.5)
    print(f"next: starts at offset {msg.offset()} ({msg.value().decode()}), after the dead member's session timed out")
    c.close()
    check(msg.offset() == 8 and msg.value() == b"record-9", f"the next consumer started at offset {msg.offset()}, not the 9th record (offset 8)")
    print("ok: duplicate scenario over Kafka: record 9 processed twice, nothing lost")


if len(sys.argv) > 3 and sys.argv[3] == "first":
    first()
else:
    main()
