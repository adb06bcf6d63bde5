"""aiokafka (asyncio): its admin client creates a topic; an idempotent acks=all producer per codec
(none, gzip, snappy, lz4, zstd) sends keyed records with a header; a group consumer reads every
record back at its acknowledged partition and offset and commits; a second consumer of the group
sees the commits at the end offsets."""
import asyncio
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

kafka = sys.argv[1]
TOPIC, GROUP, PARTITIONS, PER_CODEC = "aiokafka-topic", "aiokafka-group", 3, 20


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: aiokafka: {message}")


async def main():
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    await admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
    described = await admin.describe_topics([TOPIC])
    await admin.close()
    check(len(described[0]["partitions"]) == PARTITIONS, f"describe_topics: {described}")
    print(f"ok: aiokafka admin created {TOPIC} with {PARTITIONS} partitions")

    sent = {}
    for codec in [None, "gzip", "snappy", "lz4", "zstd"]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True, compression_type=codec)
        await producer.start()
        for i in range(PER_CODEC):
            value = f"{codec or 'none'}-{i}".encode()
            metadata = await producer.send_and_wait(TOPIC, key=f"k{i % 5}".encode(), value=value, headers=[("codec", (codec or "none").encode())])
            sent[(metadata.partition, metadata.offset)] = (f"k{i % 5}".encode(), value)
        await producer.stop()
    check(len(sent) == 5 * PER_CODEC, f"{len(sent)} distinct positions acknowledged for {5 * PER_CODEC} records")
    print(f"ok: aiokafka produced {len(sent)} records, idempotent and acks=all, with each codec")

    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=kafka, group_id=GROUP, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while len(got) < len(sent) and loop.time() < deadline:
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            for record in records:
                codec = record.value.decode().split("-")[0]
                check(record.headers == (("codec", codec.encode()),), f"headers of {record.partition}/{record.offset}: {record.headers}")
                got[(record.partition, record.offset)] = (record.key, record.value)
        await consumer.commit()
    await consumer.stop()
    check(got == sent, f"read back {len(got)} of {len(sent)} records, or not at their acknowledged positions")
    print(f"ok: an aiokafka group consumer read every record at its acknowledged partition and offset, and committed")

    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=kafka, group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    committed = {tp.partition: await consumer.committed(tp) for tp in partitions}
    ends = {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
    await consumer.stop()
    check(committed == ends, f"committed {committed}, end offsets {ends}")
    print(f"ok: the aiokafka group's commits are the end offsets {ends}")


asyncio.run(main())
