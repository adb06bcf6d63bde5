"""End-to-end latency over the Kafka protocol, as `brook bench e2e` measures it over the line
protocol: a librdkafka producer (confluent-kafka, linger.ms=0, acks=1) sends RATE records a second
for SECONDS, paced against a fixed schedule, each carrying its send time (CLOCK_MONOTONIC, shared
by the processes of this machine) in its first 8 bytes; a consumer in another process, reading
partition 0 from the start, measures each record's receipt against it.

    python kafka-e2e.py consume BROKER TOPIC COUNT   # prints "ready", then the RESULT line
    python kafka-e2e.py produce BROKER TOPIC RATE SECONDS SIZE

bench/compare.sh creates the topic (one partition), starts the consumer, waits for "ready", then
runs the producer.
"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def consume(broker, topic, count):
    consumer = Consumer({
        "bootstrap.servers": broker, "group.id": "brook-e2e", "enable.auto.commit": False,
        "fetch.min.bytes": 1, "fetch.wait.max.ms": 500, "enable.partition.eof": False,
        "socket.nagle.disable": True,
    })
    consumer.assign([TopicPartition(topic, 0, 0)])
    consumer.consume(num_messages=1, timeout=0.5)  # connects and starts fetching
    print("ready", flush=True)
    latencies = []
    last = time.monotonic()
    while len(latencies) < count:
        # poll returns as soon as one record is there (consume would wait to fill its batch);
        # then whatever else has arrived is taken without waiting.
        first = consumer.poll(0.5)
        now = time.monotonic_ns()
        records = [] if first is None else [first] + consumer.consume(num_messages=1000, timeout=0)
        for record in records:
            if record.error() is not None:
                sys.exit(f"kafka-e2e: the consumer failed: {record.error()}")
            latencies.append(now - int.from_bytes(record.value()[:8], "little"))
        if records:
            last = time.monotonic()
        elif time.monotonic() - last > 30:
            sys.exit(f"kafka-e2e: the consumer received {len(latencies)} of {count} records, none in the last 30 s")
    consumer.close()
    latencies.sort()

    def ms(percentile):
        index = max(0, min(len(latencies) - 1, -(-len(latencies) * percentile // 100) - 1))
        return latencies[int(index)] / 1e6

    print(f"RESULT bench=kafka-e2e messages={count} p50_ms={ms(50):.3f} p99_ms={ms(99):.3f} "
          f"p999_ms={ms(99.9):.3f} max_ms={latencies[-1] / 1e6:.3f}", flush=True)


def produce(broker, topic, rate, seconds, size):
    producer = Producer({"bootstrap.servers": broker, "acks": "1", "linger.ms": 0, "socket.nagle.disable": True})
    producer.list_topics(topic, timeout=10)  # metadata and the connection, before the clock starts
    failures = []
    delivered = [0]

    def report(error, _record):
        delivered[0] += 1
        if error is not None:
            failures.append(error)

    padding = b"x" * max(0, size - 8)
    total = rate * seconds
    interval = 1_000_000_000 // rate
    origin = time.monotonic_ns()
    for index in range(total):
        wait = origin + index * interval - time.monotonic_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        producer.produce(topic, time.monotonic_ns().to_bytes(8, "little") + padding, partition=0, on_delivery=report)
        producer.poll(0)
    if producer.flush(60) != 0 or failures:
        sys.exit(f"kafka-e2e: {len(failures)} records failed ({failures[:1]}), {len(producer)} undelivered")


if __name__ == "__main__":
    role, args = sys.argv[1], sys.argv[2:]
    if role == "consume":
        consume(args[0], args[1], int(args[2]))
    elif role == "produce":
        produce(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    else:
        sys.exit("usage: kafka-e2e.py consume BROKER TOPIC COUNT | produce BROKER TOPIC RATE SECONDS SIZE")
