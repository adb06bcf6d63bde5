"""ACLs with real clients against `brook serve --auth`: alice is a super user, dave is not.

    python acl_check.py HOST:PORT

confluent-kafka's AdminClient creates, describes and deletes the rules (CreateAcls, DescribeAcls,
DeleteAcls); dave may write topic acl-a but not acl-b, read only through group acl-ok, and sees
only what he may describe.
"""
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePatternFilter
from kafka.admin import ResourceType as KResourceType
from kafka.errors import ClusterAuthorizationFailedError, TopicAuthorizationFailedError

bootstrap = sys.argv[1]
suffix = uuid.uuid4().hex[:6]
topic_a, topic_b, group_ok, group_denied = f"acl-a-{suffix}", f"acl-b-{suffix}", f"acl-ok-{suffix}", f"acl-denied-{suffix}"


def config(user, password):
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": user, "sasl.password": password}


def check(condition, what):
    if not condition:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok: {what}")


def error_code(future):
    try:
        future.result(15)
        return None
    except KafkaException as error:
        print(f"   ({error.args[0]})")
        return error.args[0].code()


alice = AdminClient(config("alice", "alice-secret"))
for future in alice.create_topics([NewTopic(topic_a, 1), NewTopic(topic_b, 1)]).values():
    future.result(15)

rules = [
    AclBinding(ResourceType.TOPIC, topic_a, ResourcePatternType.LITERAL, "User:dave", "*", AclOperation.WRITE, AclPermissionType.ALLOW),
    AclBinding(ResourceType.TOPIC, topic_a, ResourcePatternType.LITERAL, "User:dave", "*", AclOperation.READ, AclPermissionType.ALLOW),
    AclBinding(ResourceType.GROUP, "acl-ok-", ResourcePatternType.PREFIXED, "User:dave", "*", AclOperation.READ, AclPermissionType.ALLOW),
]
for future in alice.create_acls(rules).values():
    future.result(15)
dave_rules = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:dave", None, AclOperation.ANY, AclPermissionType.ANY)
described = alice.describe_acls(dave_rules).result(15)
check(sorted(map(str, described)) == sorted(map(str, rules)), f"AdminClient creates and describes ACLs (CreateAcls, DescribeAcls): {len(described)} rules")

# Produce: acl-a is allowed, acl-b refused with TOPIC_AUTHORIZATION_FAILED.
reports = {}
producer = Producer({**config("dave", "dave-secret"), "enable.idempotence": True, "acks": "all", "message.timeout.ms": 10000})
producer.produce(topic_a, value=b"allowed", on_delivery=lambda err, msg: reports.__setitem__("a", err))
producer.produce(topic_b, value=b"refused", on_delivery=lambda err, msg: reports.__setitem__("b", err))
producer.flush(20)
check(reports.get("a") is None and "a" in reports, "an idempotent producer allowed WRITE on acl-a writes to it")
check(reports.get("b") is not None and reports["b"].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED,
      f"a produce to acl-b is refused with TOPIC_AUTHORIZATION_FAILED ({reports.get('b')})")

# Metadata shows only what dave may describe.
dave = AdminClient(config("dave", "dave-secret"))
topics = set(dave.list_topics(timeout=10).topics)
check(topic_a in topics and topic_b not in topics, "Metadata lists acl-a but not acl-b to dave")

# A consumer without READ on its group is refused; with it, it reads and commits.
denied = Consumer({**config("dave", "dave-secret"), "group.id": group_denied, "auto.offset.reset": "earliest"})
denied.subscribe([topic_a])
refusal = None
deadline = time.time() + 20
while refusal is None and time.time() < deadline:
    message = denied.poll(1)
    if message is not None and message.error() is not None:
        refusal = message.error()
    elif message is not None:
        raise SystemExit(f"FAIL: a consumer without READ on {group_denied} read a record")
denied.close()
check(refusal is not None and refusal.code() == KafkaError.GROUP_AUTHORIZATION_FAILED,
      f"a consumer without READ on its group is refused with GROUP_AUTHORIZATION_FAILED ({refusal})")
allowed = Consumer({**config("dave", "dave-secret"), "group.id": group_ok, "auto.offset.reset": "earliest", "enable.auto.commit": False})
allowed.subscribe([topic_a])
got = None
deadline = time.time() + 30
while got is None and time.time() < deadline:
    message = allowed.poll(1)
    if message is not None and message.error() is None:
        got = message
    elif message is not None and message.error().code() != KafkaError._PARTITION_EOF:
        raise SystemExit(f"FAIL: the consumer of {group_ok}: {message.error()}")
check(got is not None and got.value() == b"allowed", "a consumer with READ on acl-ok-* (prefixed) and on acl-a reads")
allowed.commit(message=got, asynchronous=False)
committed = allowed.committed([TopicPartition(topic_a, 0)], timeout=10)
allowed.close()
check(committed[0].offset == 1, "and commits its offset")

# The admin APIs refuse dave: ACLs need the cluster, topics CREATE.
# librdkafka drops DescribeAcls' error code (as it does against Kafka): dave sees no rule; the code
# itself is checked with kafka-python below.
check(dave.describe_acls(dave_rules).result(15) == [], "DescribeAcls without DESCRIBE on the cluster shows dave no rule")
check(error_code(dave.create_acls([rules[0]])[rules[0]]) == KafkaError.CLUSTER_AUTHORIZATION_FAILED,
      "CreateAcls without ALTER on the cluster is refused")
check(error_code(dave.create_topics([NewTopic(f"acl-c-{suffix}", 1)])[f"acl-c-{suffix}"]) == KafkaError.TOPIC_AUTHORIZATION_FAILED,
      "CreateTopics without CREATE is refused (TOPIC_AUTHORIZATION_FAILED)")
check(error_code(dave.delete_topics([topic_a])[topic_a]) == KafkaError.TOPIC_AUTHORIZATION_FAILED,
      "DeleteTopics without DELETE is refused")

# kafka-python: the same refusal, and its admin client reads the rules.
kp = KafkaProducer(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
                   sasl_plain_username="dave", sasl_plain_password="dave-secret", max_block_ms=10000)
try:
    kp.send(topic_b, value=b"refused").get(timeout=15)
    raise SystemExit("FAIL: kafka-python wrote to acl-b")
except TopicAuthorizationFailedError as error:
    check(True, f"kafka-python's produce to acl-b is refused ({type(error).__name__})")
finally:
    kp.close()
kadmin = KafkaAdminClient(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                          sasl_plain_username="alice", sasl_plain_password="alice-secret")
kp_rules, kp_error = kadmin.describe_acls(ACLFilter(principal="User:dave", host="*", operation=ACLOperation.ANY,
                                                    permission_type=ACLPermissionType.ANY,
                                                    resource_pattern=ResourcePatternFilter(KResourceType.ANY, None, ACLResourcePatternType.ANY)))
kadmin.close()
check(len(kp_rules) == 3, f"kafka-python's KafkaAdminClient describes the 3 rules ({kp_error.__name__})")
kdave = KafkaAdminClient(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                         sasl_plain_username="dave", sasl_plain_password="dave-secret")
try:
    kdave.describe_acls(ACLFilter(principal=None, host="*", operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
                                  resource_pattern=ResourcePatternFilter(KResourceType.ANY, None, ACLResourcePatternType.ANY)))
    raise SystemExit("FAIL: dave described the ACLs with kafka-python")
except ClusterAuthorizationFailedError as error:
    check("may not DESCRIBE the cluster" in str(error), f"DescribeAcls without DESCRIBE on the cluster: CLUSTER_AUTHORIZATION_FAILED ({error})")
finally:
    kdave.close()

# DeleteAcls: without the WRITE rule, dave's produce to acl-a is refused at once.
write_only = AclBindingFilter(ResourceType.TOPIC, topic_a, ResourcePatternType.LITERAL, "User:dave", "*", AclOperation.WRITE, AclPermissionType.ALLOW)
deleted = alice.delete_acls([write_only])[write_only].result(15)
check(len(deleted) == 1, "AdminClient deletes the WRITE rule (DeleteAcls)")
reports.clear()
late = Producer({**config("dave", "dave-secret"), "acks": "all", "message.timeout.ms": 8000})
late.produce(topic_a, value=b"too late", on_delivery=lambda err, msg: reports.__setitem__("a", err))
late.flush(15)
check(reports.get("a") is not None and reports["a"].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED,
      f"after the delete, a produce to acl-a is refused ({reports.get('a')})")
print("all ACL checks passed")
