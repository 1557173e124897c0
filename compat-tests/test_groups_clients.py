"""Group consumers of kcat (-G), kafka-python and kafkajs against weir: produce N, consume N
in a group with committed offsets, produce M more, run the group again, and get exactly the M
new messages: nothing committed is delivered again, nothing is lost."""

from __future__ import annotations

import time

import pytest

from helpers import create_topic, produce_confluent, unique_topic
from test_kafkajs import node
from test_kcat import kcat


def produce(bootstrap, topic, prefix, n, partitions):
    produce_confluent(bootstrap, topic,
                      [(None, f"{prefix}{i}".encode(), None, i % partitions) for i in range(n)])
    return sorted(f"{prefix}{i}" for i in range(n))


def two_rounds(broker, consume, partitions=3):
    """Round 1 reads 20 messages, round 2 (a new consumer process) only the 7 produced since."""
    topic = unique_topic("grp-client")
    group = unique_topic("g-client")
    create_topic(broker.bootstrap, topic, partitions=partitions)
    first = produce(broker.bootstrap, topic, "a", 20, partitions)
    assert sorted(consume(broker.bootstrap, group, topic, 20)) == first
    second = produce(broker.bootstrap, topic, "b", 7, partitions)
    assert sorted(consume(broker.bootstrap, group, topic, 7)) == second, \
        "a restarted group member must resume from the committed offsets"


def kcat_group(bootstrap, group, topic, n):
    r = kcat("-b", bootstrap, "-G", group, topic, "-e", "-q", "-f", "%s\\n",
             "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
             "-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100",
             timeout=60)
    assert r.returncode == 0, f"kcat -G failed ({r.returncode}): {r.stderr}"
    return r.stdout.splitlines()


def test_kcat_balanced_consumer_resumes_from_committed_offsets(broker):
    two_rounds(broker, kcat_group)


def kafka_python_group(bootstrap, group, topic, n):
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      session_timeout_ms=10000, heartbeat_interval_ms=1000,
                      request_timeout_ms=30000)
    got = []
    try:
        deadline = time.monotonic() + 40
        while len(got) < n and time.monotonic() < deadline:
            for _tp, recs in c.poll(timeout_ms=300).items():
                got.extend(r.value.decode() for r in recs)
        quiet = time.monotonic() + 1.5
        while time.monotonic() < quiet:
            for _tp, recs in c.poll(timeout_ms=200).items():
                got.extend(r.value.decode() for r in recs)
        c.commit()
    finally:
        c.close()
    return got


def test_kafka_python_group_consumer_resumes_from_committed_offsets(broker):
    two_rounds(broker, kafka_python_group)


def kafkajs_group(bootstrap, group, topic, n):
    out = node("group_consume.js", bootstrap, group, topic, str(n), timeout=90)
    return [v for _p, _o, v in out["messages"]]


def test_kafkajs_group_consumer_resumes_from_committed_offsets(broker):
    two_rounds(broker, kafkajs_group)
