"""confluent-kafka, kafka-python and aiokafka over SASL_PLAINTEXT (or SASL_SSL with --tls CA.pem) against `brook serve --auth`.

    python sasl_check.py HOST:PORT [--tls CA.pem]
"""
import asyncio
import logging
import sys
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as ATopicPartition
from aiokafka.errors import KafkaError as AIOKafkaError
from aiokafka.helpers import create_ssl_context
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition
from kafka.errors import KafkaError as KafkaPythonError

bootstrap = sys.argv[1]
# --tls CA.pem: the same checks over SASL_SSL, the server's certificate verified against CA.pem.
ca = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--tls" else None
protocol = "SASL_SSL" if ca else "SASL_PLAINTEXT"


def confluent_config(mechanism, user, password):
    config = {
        "bootstrap.servers": bootstrap,
        "security.protocol": protocol,
        "sasl.mechanisms": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }
    if ca:
        config["ssl.ca.location"] = ca
    return config


def kafka_python_options(mechanism, user, password):
    options = dict(bootstrap_servers=bootstrap, security_protocol=protocol, sasl_mechanism=mechanism,
                   sasl_plain_username=user, sasl_plain_password=password)
    if ca:
        options["ssl_cafile"] = ca
    return options


def check(condition, what):
    if not condition:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok: {what}")


# confluent-kafka: an idempotent producer and an assign() consumer over SCRAM-SHA-256.
topic = f"sasl-confluent-{uuid.uuid4().hex[:8]}"
producer = Producer({**confluent_config("SCRAM-SHA-256", "alice", "alice-secret"), "enable.idempotence": True, "acks": "all"})
for i in range(10):
    producer.produce(topic, key=b"k", value=f"v{i}".encode())
check(producer.flush(15) == 0, f"confluent-kafka idempotent producer over {protocol} SCRAM-SHA-256 delivered 10 records")
consumer = Consumer({**confluent_config("SCRAM-SHA-512", "bob", "bob-secret"), "group.id": "unused", "enable.auto.commit": False})
consumer.assign([TopicPartition(topic, 0, 0)])
values = []
while len(values) < 10:
    message = consumer.poll(10)
    if message is None or message.error() is not None:
        raise SystemExit(f"FAIL: confluent-kafka consumer over SASL: {message and message.error()}")
    values.append(message.value().decode())
consumer.close()
check(values == [f"v{i}" for i in range(10)], "confluent-kafka consumer over SCRAM-SHA-512 read the 10 records in order")

# A wrong password: the admin client cannot list topics, and librdkafka reports the broker's reason.
errors = []
admin = AdminClient({**confluent_config("SCRAM-SHA-512", "alice", "wrong"), "error_cb": lambda e: errors.append(e.str())})
try:
    admin.list_topics(timeout=5)
    raise SystemExit("FAIL: AdminClient with a wrong password listed topics")
except KafkaException:
    pass
for _ in range(20):
    if errors:
        break
    admin.poll(0.5)  # serves error_cb
check(any("unknown user or wrong password" in e for e in errors),
      f"confluent-kafka with a wrong password fails authentication ({errors[:1]})")

# kafka-python over SCRAM-SHA-512 and PLAIN.
for mechanism, user, password in [("SCRAM-SHA-512", "bob", "bob-secret"), ("PLAIN", "alice", "alice-secret")]:
    options = kafka_python_options(mechanism, user, password)
    kp_topic = f"sasl-kp-{mechanism.lower()}-{uuid.uuid4().hex[:6]}"
    kp = KafkaProducer(**options)
    kp.send(kp_topic, key=b"k", value=b"hello").get(timeout=15)
    kp.close()
    kc = KafkaConsumer(**options, consumer_timeout_ms=5000)
    kc.assign([KTopicPartition(kp_topic, 0)])
    kc.seek_to_beginning()
    got = [m.value for m in kc]
    kc.close()
    check(got == [b"hello"], f"kafka-python produces and consumes over {protocol} {mechanism}")

try:
    KafkaProducer(**kafka_python_options("SCRAM-SHA-256", "alice", "wrong"), max_block_ms=5000).close()
    raise SystemExit("FAIL: kafka-python with a wrong password connected")
except KafkaPythonError as error:
    check(True, f"kafka-python with a wrong password is refused ({type(error).__name__})")


def aiokafka_options(mechanism, user, password):
    options = dict(bootstrap_servers=bootstrap, security_protocol=protocol, sasl_mechanism=mechanism,
                   sasl_plain_username=user, sasl_plain_password=password)
    if ca:
        options["ssl_context"] = create_ssl_context(cafile=ca)
    return options


async def aiokafka_checks():
    # Its own SASL code: SCRAM-SHA-256 and -512 and PLAIN, an idempotent producer and a reader.
    for mechanism, user, password in [("SCRAM-SHA-256", "alice", "alice-secret"), ("SCRAM-SHA-512", "bob", "bob-secret"),
                                      ("PLAIN", "alice", "alice-secret")]:
        options = aiokafka_options(mechanism, user, password)
        ak_topic = f"sasl-aio-{mechanism.lower()}-{uuid.uuid4().hex[:6]}"
        producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True)
        await producer.start()
        await producer.send_and_wait(ak_topic, key=b"k", value=b"hello")
        await producer.stop()
        consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
        await consumer.start()
        partition = ATopicPartition(ak_topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        record = await asyncio.wait_for(consumer.getone(), 15)
        await consumer.stop()
        check(record.value == b"hello", f"aiokafka produces and consumes over {protocol} {mechanism}")
    # aiokafka raises a bare "Unable to bootstrap" and logs the broker's reason: collect its log.
    reasons = []
    handler = logging.Handler()
    handler.emit = lambda record: reasons.append(record.getMessage())
    logging.getLogger("aiokafka").addHandler(handler)
    producer = AIOKafkaProducer(**aiokafka_options("SCRAM-SHA-512", "alice", "wrong"), request_timeout_ms=5000)
    try:
        await producer.start()
        await producer.stop()
        raise SystemExit("FAIL: aiokafka with a wrong password connected")
    except AIOKafkaError as error:
        await producer.stop()
        reason = next((r for r in reasons if "SaslAuthenticationFailed" in r and "unknown user or wrong password" in r), None)
        check(reason is not None, f"aiokafka with a wrong password is refused ({type(error).__name__}; logged: {reason or reasons[:1]})")
    finally:
        logging.getLogger("aiokafka").removeHandler(handler)


asyncio.run(aiokafka_checks())
