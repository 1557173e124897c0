"""Committed offsets live in the compacted topic __consumer_offsets: after the log cleaner has
compacted it, a restarted broker still recovers every group's latest committed offsets
(replay keeps the last record per key; compaction keeps exactly that record)."""

from __future__ import annotations

import re

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from helpers import admin, consume_all, create_topic, produce_confluent, unique_topic, wait_until

OFFSETS = "__consumer_offsets"


def committer(bootstrap: str, group: str) -> Consumer:
    """An assign-only consumer: its commits are simple commits (generation -1)."""
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False, "socket.timeout.ms": 10000})


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    c = committer(bootstrap, group)
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=20)
        return [tp.offset for tp in tps]
    finally:
        c.close()


# The broker is killed below, so the general "no WARN/ERROR" rule is off for this test; it
# checks its own log instead: a compacted closed segment (first batches compacted away) must
# reopen without being reported as damaged.
@pytest.mark.broker_warnings_ok
def test_offsets_survive_compaction_of_consumer_offsets_and_a_restart(make_broker):
    broker = make_broker("--log-cleaner-backoff-ms", "200", "--offsets-topic-partitions", "1")
    topic = unique_topic("grp-compact")
    create_topic(broker.bootstrap, topic, partitions=2)
    produce_confluent(broker.bootstrap, topic, [(None, b"x", None, p) for p in (0, 1)])
    groups = [unique_topic("g-compact") for _ in range(3)]

    # The first commit creates __consumer_offsets; then make its segments tiny so the rounds
    # of commits below land in closed, compactable segments.
    c = committer(broker.bootstrap, groups[0])
    c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    res = ConfigResource(ResourceType.TOPIC, OFFSETS, incremental_configs=[
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
        for name, value in [("segment.bytes", "1024"), ("delete.retention.ms", "0"),
                            ("min.cleanable.dirty.ratio", "0.01")]
    ])
    a = admin(broker.bootstrap)
    a.incremental_alter_configs([res])[res].result(timeout=20)
    c.close()

    rounds = 40
    for g in groups:
        c = committer(broker.bootstrap, g)
        try:
            for i in range(1, rounds + 1):
                c.commit(offsets=[TopicPartition(topic, 0, i), TopicPartition(topic, 1, 1000 + i)],
                         asynchronous=False)
        finally:
            c.close()
    written = 1 + len(groups) * rounds * 2

    def compacted():
        records = consume_all(broker.bootstrap, OFFSETS, partitions=(0,))
        return len(records) if len(records) < written // 4 else None

    wait_until(compacted, timeout=60, interval=0.5, what="the cleaner to compact __consumer_offsets")

    for g in groups:
        assert committed(broker.bootstrap, g, topic, 2) == [rounds, 1000 + rounds], g
    broker.kill()  # like a crash: nothing flushed on the way out
    broker.start()
    for g in groups:
        assert committed(broker.bootstrap, g, topic, 2) == [rounds, 1000 + rounds], \
            f"{g}: offsets after compaction and a restart"
    log = re.sub(r"\x1b\[[0-9;]*m", "", broker.log_text())
    unexpected = [line for line in log.splitlines()
                  if re.search(r"\b(WARN|ERROR)\b", line)]
    assert not unexpected, unexpected
