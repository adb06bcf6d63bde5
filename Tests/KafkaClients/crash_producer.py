"""An idempotent acks=all confluent-kafka producer that writes 0..COUNT-1 in order to one
partition and appends each acknowledged value to a file, while the test kills the server."""
import sys

from confluent_kafka import Producer

kafka, topic, count, acked_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
failures = []
with open(acked_path, "w", buffering=1) as acked:
    def delivered(err, msg):
        if err is None:
            acked.write(msg.value().decode() + "\n")
        else:
            failures.append(err)

    producer = Producer({
        "bootstrap.servers": kafka, "acks": "all", "enable.idempotence": True, "linger.ms": 2,
        "message.timeout.ms": 120_000, "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
        "log_level": 0,  # the kill makes librdkafka log its reconnects; they are expected
    })
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value=str(i).encode(), partition=0, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        if i % 50 == 0:
            producer.poll(0.005)  # spread the run out, so the kill lands mid-stream
    left = producer.flush(120)
if left or failures:
    sys.exit(f"FAIL: crash producer: {left} records unflushed, failures {failures[:3]}")
