"""Dynamic broker configs (what `kafka-configs.sh --entity-type brokers --alter` does):
confluent-kafka's AdminClient incremental_alter_configs / alter_configs / describe_configs on
ConfigResource(BROKER, "1") (this broker), the cluster-wide default (resource "") through
kafka-python's request classes, the topic-config defaults taking effect on existing topics,
stored-only and sensitive configs, Kafka's error cases, and the configs surviving a restart.

librdkafka (and so confluent-kafka) refuses ConfigResource(BROKER, "") locally ("Expected an
int32 broker_id"), and kafka-python's KafkaAdminClient does too, so the cluster-default level
is reached by sending kafka-python's IncrementalAlterConfigs / AlterConfigs / DescribeConfigs
requests through its connection manager, as `kafka-configs.sh --entity-default` would."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AlterConfigOpType, ConfigResource, ConfigSource, ResourceType

from kafka.admin import KafkaAdminClient
from kafka.protocol.admin import (
    AlterConfigsRequest,
    DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
)

from helpers import (
    admin,
    config_source,
    create_topic,
    describe_configs,
    error_code_of,
    incremental_alter,
    produce_confluent,
    unique_topic,
)

BROKER_ID = "1"  # the conftest broker runs with weir's default node id
BROKER = 4  # ConfigResource type code


class ClusterDefault:
    """The BROKER resource "" (cluster-wide defaults), spoken to with kafka-python requests."""

    def __init__(self, bootstrap: str):
        self.kp = KafkaAdminClient(bootstrap_servers=bootstrap)

    def close(self):
        self.kp.close()

    def _send(self, request):
        async def send():
            return await self.kp._manager.send(request)
        return self.kp._manager.run(send)

    def incremental(self, *ops, validate_only: bool = False) -> int:
        """IncrementalAlterConfigs with (config, op, value) triples; the error code."""
        r = self._send(IncrementalAlterConfigsRequest(
            resources=[(BROKER, "", [(k, int(op.value), v) for k, op, v in ops])],
            validate_only=validate_only))
        return r.responses[0].error_code

    def replace(self, configs: dict) -> int:
        """Legacy AlterConfigs: `configs` becomes the whole set; the error code."""
        r = self._send(AlterConfigsRequest(
            resources=[(BROKER, "", list(configs.items()))], validate_only=False))
        return r.responses[0].error_code

    def describe(self) -> dict:
        """{name: (value, source)} of the cluster-default configs."""
        r = self._send(DescribeConfigsRequest(resources=[(BROKER, "", None)],
                                              include_synonyms=True))
        assert r.results[0].error_code == 0, r
        return {c.name: (c.value, c.config_source) for c in r.results[0].configs}


@pytest.fixture
def cluster_default(broker):
    d = ClusterDefault(broker.bootstrap)
    yield d
    d.close()


src = config_source


def incremental(a, name: str, *ops, validate_only: bool = False):
    """IncrementalAlterConfigs of one BROKER resource with (config, op, value) triples."""
    return incremental_alter(a, ResourceType.BROKER, name, *ops, validate_only=validate_only)


describe = describe_configs


def test_cluster_default_and_per_broker_values_reach_topics(broker, cluster_default):
    a = admin(broker.bootstrap)
    topic = unique_topic("bc-retention")
    create_topic(broker.bootstrap, topic)
    cfg = describe(a, ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "604800000"
    assert src(cfg["retention.ms"]) == ConfigSource.DEFAULT_CONFIG.value

    assert cluster_default.incremental(
        ("log.retention.ms", AlterConfigOpType.SET, "3600000")) == 0
    cfg = describe(a, ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "3600000"
    assert src(cfg["retention.ms"]) == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value

    incremental(a, BROKER_ID, ("log.retention.ms", AlterConfigOpType.SET, "1800000"))
    cfg = describe(a, ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "1800000"
    assert src(cfg["retention.ms"]) == ConfigSource.DYNAMIC_BROKER_CONFIG.value

    # The broker resource shows the effective value. (confluent-kafka keys synonyms by name,
    # and every level of log.retention.ms has the same name, so their order is checked by
    # crates/broker/tests/broker_configs.rs instead.)
    bcfg = describe(a, ResourceType.BROKER, BROKER_ID)
    e = bcfg["log.retention.ms"]
    assert e.value == "1800000" and not e.is_read_only
    assert src(e) == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert bcfg["log.dirs"].is_read_only
    assert cluster_default.describe() == {
        "log.retention.ms": ("3600000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)}

    # DELETE goes back a level at a time.
    incremental(a, BROKER_ID, ("log.retention.ms", AlterConfigOpType.DELETE, None))
    cfg = describe(a, ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "3600000"
    assert cluster_default.incremental(
        ("log.retention.ms", AlterConfigOpType.DELETE, None)) == 0
    cfg = describe(a, ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "604800000"
    assert cfg["retention.ms"].is_default
    assert cluster_default.describe() == {}


def test_message_max_bytes_at_the_cluster_default_takes_effect(broker, cluster_default):
    a = admin(broker.bootstrap)
    topic = unique_topic("bc-maxbytes")
    create_topic(broker.bootstrap, topic)
    big = (None, b"x" * 5000)
    small = (None, b"y" * 100)
    assert produce_confluent(broker.bootstrap, topic, [big])[0][0] is None

    assert cluster_default.replace({"message.max.bytes": "2000"}) == 0
    assert describe(a, ResourceType.TOPIC, topic)["max.message.bytes"].value == "2000"

    err = produce_confluent(broker.bootstrap, topic, [big], {"retries": 0})[0][0]
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert produce_confluent(broker.bootstrap, topic, [small])[0][0] is None

    # A topic's own max.message.bytes still wins over the broker default.
    own = unique_topic("bc-maxbytes-own")
    create_topic(broker.bootstrap, own, config={"max.message.bytes": "100000"})
    assert produce_confluent(broker.bootstrap, own, [big])[0][0] is None

    # Legacy AlterConfigs replaces the whole set: an empty set removes the limit again.
    assert cluster_default.replace({}) == 0
    assert produce_confluent(broker.bootstrap, topic, [big])[0][0] is None


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated:DeprecationWarning")
def test_legacy_alter_configs_replaces_a_brokers_set(broker):
    a = admin(broker.bootstrap)
    # librdkafka 0081_admin's AlterConfigs of a broker resource.
    res = ConfigResource(ResourceType.BROKER, BROKER_ID,
                         set_config={"sasl.kerberos.min.time.before.relogin": "58000",
                                     "log.roll.ms": "3600000"})
    assert a.alter_configs([res], request_timeout=10)[res].result(timeout=20) is None
    cfg = describe(a, ResourceType.BROKER, BROKER_ID)
    assert cfg["sasl.kerberos.min.time.before.relogin"].value == "58000"
    assert cfg["log.roll.ms"].value == "3600000"
    res = ConfigResource(ResourceType.BROKER, BROKER_ID, set_config={"log.roll.ms": "7200000"})
    a.alter_configs([res], request_timeout=10)[res].result(timeout=20)
    cfg = describe(a, ResourceType.BROKER, BROKER_ID)
    assert "sasl.kerberos.min.time.before.relogin" not in cfg
    assert cfg["log.roll.ms"].value == "7200000"
    assert src(cfg["log.roll.ms"]) == ConfigSource.DYNAMIC_BROKER_CONFIG.value


def test_stored_only_and_sensitive_configs_survive_a_restart(broker):
    a = admin(broker.bootstrap)
    # What librdkafka's 0081_admin sets on a broker resource.
    incremental(a, BROKER_ID,
                ("sasl.kerberos.min.time.before.relogin", AlterConfigOpType.SET, "58000"),
                ("background.threads", AlterConfigOpType.SET, "9"),
                ("log.cleanup.policy", AlterConfigOpType.APPEND, "compact"),
                ("ssl.truststore.password", AlterConfigOpType.SET, "hunter2"))

    def check(a):
        cfg = describe(a, ResourceType.BROKER, BROKER_ID)
        e = cfg["sasl.kerberos.min.time.before.relogin"]
        assert e.value == "58000" and src(e) == ConfigSource.DYNAMIC_BROKER_CONFIG.value
        assert cfg["background.threads"].value == "9"
        assert cfg["log.cleanup.policy"].value == "delete,compact"
        secret = cfg["ssl.truststore.password"]
        assert secret.is_sensitive and secret.value is None
        assert src(secret) == ConfigSource.DYNAMIC_BROKER_CONFIG.value

    check(a)
    broker.restart()
    check(admin(broker.bootstrap))

    incremental(admin(broker.bootstrap), BROKER_ID,
                ("background.threads", AlterConfigOpType.DELETE, None),
                ("log.cleanup.policy", AlterConfigOpType.SUBTRACT, "compact"))
    cfg = describe(admin(broker.bootstrap), ResourceType.BROKER, BROKER_ID)
    assert "background.threads" not in cfg
    assert cfg["log.cleanup.policy"].value == "delete"


def test_kafkas_checks(broker, cluster_default):
    a = admin(broker.bootstrap)
    SET = AlterConfigOpType.SET
    cases = [
        # not dynamic: unknown, read-only
        ("no.such.config", SET, "1"),
        ("log.dirs", SET, "/tmp/elsewhere"),
        # a bad value (a KRaft broker answers INVALID_REQUEST: KAFKA-13609)
        ("log.retention.ms", SET, "soon"),
    ]
    for op in cases:
        code = error_code_of(lambda: incremental(a, BROKER_ID, op))
        assert code == KafkaError.INVALID_REQUEST, (op, code)
        assert cluster_default.incremental(op) == KafkaError.INVALID_REQUEST, op
    code = error_code_of(lambda: incremental(
        a, BROKER_ID, ("background.threads", AlterConfigOpType.APPEND, "2")))
    assert code == KafkaError.INVALID_CONFIG, code
    # a per-broker config at the cluster-default level
    per_broker = ("sasl.kerberos.min.time.before.relogin", SET, "58000")
    assert cluster_default.incremental(per_broker) == KafkaError.INVALID_REQUEST
    # another broker's id (librdkafka routes it to a broker that does not exist, so ask
    # this one with kafka-python's request)
    r = cluster_default._send(IncrementalAlterConfigsRequest(
        resources=[(BROKER, "2", [("background.threads", 0, "4")])], validate_only=False))
    assert r.responses[0].error_code == KafkaError.INVALID_REQUEST

    # validate_only checks and stores nothing.
    incremental(a, BROKER_ID, ("log.segment.bytes", SET, "1048576"), validate_only=True)
    assert cluster_default.incremental(("log.segment.bytes", SET, "1048576"),
                                       validate_only=True) == 0
    assert cluster_default.describe() == {}
    assert "log.segment.bytes" not in {
        k for k, e in describe(a, ResourceType.BROKER, BROKER_ID).items()
        if src(e) == ConfigSource.DYNAMIC_BROKER_CONFIG.value}
    code = error_code_of(lambda: incremental(
        a, BROKER_ID, ("log.segment.bytes", SET, "x"), validate_only=True))
    assert code == KafkaError.INVALID_REQUEST, code
