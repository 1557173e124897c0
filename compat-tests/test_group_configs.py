"""Group configs (KIP-848, what `kafka-configs.sh --entity-type groups --alter` does), with
confluent-kafka (librdkafka): incremental_alter_configs / alter_configs / describe_configs on
ConfigResource(GROUP, ...) for groups that exist or not, Kafka's error cases, the configs
surviving a restart, and a group's own `consumer.session.timeout.ms` deciding when a SIGKILLed
`group.protocol=consumer` member's partitions move.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AlterConfigOpType, ConfigResource, ConfigSource, ResourceType

from helpers import (
    admin,
    config_source,
    create_topic,
    describe_configs,
    error_code_of,
    incremental_alter,
    unique_topic,
)

GROUP_CONFIG_SOURCE = 8  # ConfigSource.GROUP_CONFIG on the wire


src = config_source


def incremental(a, group: str, *ops, validate_only: bool = False):
    return incremental_alter(a, ResourceType.GROUP, group, *ops, validate_only=validate_only)


def describe(a, group: str) -> dict:
    return describe_configs(a, ResourceType.GROUP, group)


def test_set_describe_delete_and_restart(broker):
    a = admin(broker.bootstrap)
    group = unique_topic("gc")
    # A group nobody has used is described with the defaults.
    cfg = describe(a, group)
    assert cfg["consumer.session.timeout.ms"].value == "45000"
    assert cfg["consumer.heartbeat.interval.ms"].value == "5000"
    assert "share.auto.offset.reset" in cfg
    assert all(src(e) == ConfigSource.DEFAULT_CONFIG.value for e in cfg.values())

    # What librdkafka's 0081_admin sets.
    incremental(a, group, ("consumer.session.timeout.ms", AlterConfigOpType.SET, "50000"),
                ("consumer.heartbeat.interval.ms", AlterConfigOpType.SET, "6000"))
    cfg = describe(a, group)
    assert cfg["consumer.session.timeout.ms"].value == "50000"
    assert src(cfg["consumer.session.timeout.ms"]) == GROUP_CONFIG_SOURCE
    assert cfg["consumer.heartbeat.interval.ms"].value == "6000"
    assert describe(a, unique_topic("gc-other"))["consumer.session.timeout.ms"].value == "45000"

    broker.restart()
    a = admin(broker.bootstrap)
    cfg = describe(a, group)
    assert cfg["consumer.session.timeout.ms"].value == "50000"
    incremental(a, group, ("consumer.session.timeout.ms", AlterConfigOpType.DELETE, None))
    cfg = describe(a, group)
    assert cfg["consumer.session.timeout.ms"].value == "45000"
    assert src(cfg["consumer.session.timeout.ms"]) == ConfigSource.DEFAULT_CONFIG.value
    assert cfg["consumer.heartbeat.interval.ms"].value == "6000"


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated:DeprecationWarning")
def test_legacy_alter_configs_replaces_a_groups_set(broker):
    a = admin(broker.bootstrap)
    group = unique_topic("gc-legacy")
    incremental(a, group, ("consumer.heartbeat.interval.ms", AlterConfigOpType.SET, "6000"))
    res = ConfigResource(ResourceType.GROUP, group,
                         set_config={"consumer.session.timeout.ms": "55000"})
    assert a.alter_configs([res], request_timeout=10)[res].result(timeout=20) is None
    cfg = describe(a, group)
    assert cfg["consumer.session.timeout.ms"].value == "55000"
    assert cfg["consumer.heartbeat.interval.ms"].value == "5000"


def test_kafkas_checks(broker):
    a = admin(broker.bootstrap)
    group = unique_topic("gc-bad")
    SET = AlterConfigOpType.SET
    for op in [
        ("no.such.config", SET, "1"),
        ("consumer.session.timeout.ms", SET, "1000"),   # below the broker's minimum
        ("consumer.session.timeout.ms", SET, "soon"),
        ("consumer.heartbeat.interval.ms", SET, "20000"),  # above the maximum
        ("share.auto.offset.reset", SET, "none"),
    ]:
        assert error_code_of(lambda: incremental(a, group, op)) == KafkaError.INVALID_CONFIG, op
    # validate_only checks a good value and stores nothing.
    incremental(a, group, ("consumer.session.timeout.ms", SET, "50000"), validate_only=True)
    assert describe(a, group)["consumer.session.timeout.ms"].value == "45000"


def test_a_groups_session_timeout_decides_when_a_killed_members_partitions_move(make_broker):
    from test_groups_confluent import wait_for
    from test_groups_kip848 import BROKER_ARGS, SESSION_TIMEOUT_MS, make_member

    broker = make_broker(*BROKER_ARGS)  # the broker's own session timeout: 6 s
    topic = unique_topic("gc-session")
    create_topic(broker.bootstrap, topic, partitions=2)
    a = admin(broker.bootstrap)
    group = unique_topic("gc-patient")
    own_timeout_s = 20
    incremental(a, group, ("consumer.session.timeout.ms", AlterConfigOpType.SET,
                           str(own_timeout_s * 1000)))

    first = make_member(broker.bootstrap, group, topic)
    second = None
    try:
        wait_for([first], lambda: first.assignment == [0, 1], 40, "the first member owns both")
        second = make_member(broker.bootstrap, group, topic)
        wait_for([first, second],
                 lambda: sorted((first.assignment or []) + (second.assignment or [])) == [0, 1]
                 and bool(second.assignment),
                 40, "the two members share the partitions")
        first.kill()
        killed_at = time.monotonic()
        took_over = wait_for([second], lambda: second.assignment == [0, 1],
                             own_timeout_s + 20, "the survivor owns both")
        waited = took_over - killed_at
        # With the broker's 6 s the partitions would move after about 6 s; the group's own
        # 20 s holds them longer. (A lower bound only: a slow machine can only make it later.)
        assert waited > SESSION_TIMEOUT_MS / 1000 + 6, \
            f"partitions moved after {waited:.1f}s, before the group's {own_timeout_s}s session"
    finally:
        first.stop()
        if second is not None:
            second.stop()
