"""ACLs with confluent-kafka's AdminClient and producer/consumer against weir started with
`--authorizer true`: create, describe (MATCH and LITERAL filters), delete, and enforcement on
the plaintext principal User:ANONYMOUS; without the authorizer the ACL APIs answer
SECURITY_DISABLED, as Kafka does. kafka-python's KafkaAdminClient does the same round trip."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

import kafka.errors
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
)
from kafka.admin import ResourceType as KResourceType

from helpers import (
    admin,
    consume_all,
    create_topic,
    kafka_error_code,
    produce_confluent,
    unique_topic,
)

AUTHORIZER = ("--authorizer", "true", "--allow-everyone-if-no-acl-found", "true")


def every_acl_filter(resource_type=ResourceType.ANY, name=None,
                     pattern=ResourcePatternType.ANY):
    return AclBindingFilter(resource_type, name, pattern, None, None,
                            AclOperation.ANY, AclPermissionType.ANY)


def binding(name, pattern, principal, operation, permission,
            resource_type=ResourceType.TOPIC):
    return AclBinding(resource_type, name, pattern, principal, "*", operation, permission)


def test_acl_admin_round_trip_survives_restart(make_broker):
    b = make_broker(*AUTHORIZER)
    a = admin(b.bootstrap)
    prefix = unique_topic("acl-orders-")
    acls = [
        binding(prefix, ResourcePatternType.PREFIXED, "User:alice", AclOperation.READ,
                AclPermissionType.ALLOW),
        binding(prefix + "eu", ResourcePatternType.LITERAL, "User:bob", AclOperation.WRITE,
                AclPermissionType.ALLOW),
        binding("payments", ResourcePatternType.LITERAL, "User:bob", AclOperation.READ,
                AclPermissionType.ALLOW, resource_type=ResourceType.GROUP),
    ]
    for f in a.create_acls(acls, request_timeout=15).values():
        assert f.result(timeout=20) is None

    listed = a.describe_acls(every_acl_filter(), request_timeout=15).result(timeout=20)
    assert sorted(listed, key=str) == sorted(acls, key=str)
    # MATCH selects every pattern that applies to the named topic.
    matching = a.describe_acls(
        every_acl_filter(ResourceType.TOPIC, prefix + "eu", ResourcePatternType.MATCH),
        request_timeout=15).result(timeout=20)
    assert len(matching) == 2
    literal = a.describe_acls(
        every_acl_filter(ResourceType.TOPIC, prefix + "eu", ResourcePatternType.LITERAL),
        request_timeout=15).result(timeout=20)
    assert [x.principal for x in literal] == ["User:bob"]

    b.restart()
    a = admin(b.bootstrap)
    listed = a.describe_acls(every_acl_filter(), request_timeout=15).result(timeout=20)
    assert len(listed) == 3

    fs = a.delete_acls([every_acl_filter(ResourceType.TOPIC)], request_timeout=15)
    deleted = list(fs.values())[0].result(timeout=20)
    assert len(deleted) == 2
    left = a.describe_acls(every_acl_filter(), request_timeout=15).result(timeout=20)
    assert [x.restype for x in left] == [ResourceType.GROUP]


def test_acls_are_enforced_on_produce_and_consume(make_broker):
    b = make_broker(*AUTHORIZER)
    locked, open_ = unique_topic("acl-locked"), unique_topic("acl-open")
    create_topic(b.bootstrap, locked)
    a = create_topic(b.bootstrap, open_)

    reports = produce_confluent(b.bootstrap, locked, [(b"k", b"before")])
    assert reports[0][0] is None

    deny_write = binding(locked, ResourcePatternType.LITERAL, "User:ANONYMOUS",
                         AclOperation.WRITE, AclPermissionType.DENY)
    allow_read = binding(locked, ResourcePatternType.LITERAL, "User:*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    for f in a.create_acls([deny_write, allow_read], request_timeout=15).values():
        f.result(timeout=20)

    reports = produce_confluent(b.bootstrap, locked, [(b"k", b"after")],
                                {"message.timeout.ms": 5000})
    err = reports[0][0]
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    # The other topic has no ACL, and the broker allows everyone where none applies.
    assert produce_confluent(b.bootstrap, open_, [(b"k", b"v")])[0][0] is None
    # READ is still allowed: the record written before the ACL is read back.
    got = consume_all(b.bootstrap, locked, min_count=1)
    assert [m.value() for m in got] == [b"before"]

    for f in a.delete_acls([every_acl_filter(ResourceType.TOPIC, locked)],
                           request_timeout=15).values():
        assert len(f.result(timeout=20)) == 2
    assert produce_confluent(b.bootstrap, locked, [(b"k", b"again")])[0][0] is None


def test_without_authorizer_acl_apis_are_security_disabled(broker):
    a = admin(broker.bootstrap)
    fs = a.create_acls([binding("t", ResourcePatternType.LITERAL, "User:x", AclOperation.READ,
                                AclPermissionType.ALLOW)], request_timeout=15)
    with pytest.raises(KafkaException) as e:
        list(fs.values())[0].result(timeout=20)
    assert kafka_error_code(e.value) == KafkaError.SECURITY_DISABLED
    # librdkafka ignores DescribeAcls' top-level error; kafka-python raises it.
    k = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        with pytest.raises(kafka.errors.SecurityDisabledError):
            k.describe_acls(kafka_python_filter())
    finally:
        k.close()


def kafka_python_filter():
    return ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                     permission_type=ACLPermissionType.ANY,
                     resource_pattern=ResourcePatternFilter(
                         KResourceType.ANY, None, ACLResourcePatternType.ANY))


def test_kafka_python_acls(make_broker):
    b = make_broker(*AUTHORIZER)
    k = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        topic = unique_topic("acl-kp")
        acl = ACL(principal="User:carol", host="*", operation=ACLOperation.DESCRIBE,
                  permission_type=ACLPermissionType.ALLOW,
                  resource_pattern=ResourcePattern(KResourceType.TOPIC, topic))
        created = k.create_acls([acl])
        assert created["failed"] == [] and len(created["succeeded"]) == 1, created
        acls, err = k.describe_acls(kafka_python_filter())
        assert err is kafka.errors.NoError
        assert [(x.principal, x.resource_pattern.resource_name) for x in acls] == [
            ("User:carol", topic)]
        deleted = k.delete_acls([kafka_python_filter()])
        assert len(deleted) == 1 and len(deleted[0][1]) == 1, deleted
        acls, _ = k.describe_acls(kafka_python_filter())
        assert acls == []
    finally:
        k.close()
