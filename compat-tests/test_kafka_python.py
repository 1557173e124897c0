"""kafka-python (pure Python, 3.0.x) against weir: producer acks/compression, assign-only consumer,
KafkaAdminClient topic management."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as Errors

from helpers import consume_all, unique_topic, wait_until


def read_all(bootstrap: str, topic: str, partitions=(0,), expected: int = 0, timeout: float = 30.0):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", request_timeout_ms=20000)
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        c.assign(tps)
        c.seek_to_beginning()
        records = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for _tp, recs in c.poll(timeout_ms=500).items():
                records.extend(recs)
        # one more short poll: nothing beyond `expected` may show up
        extra_deadline = time.monotonic() + 1.0
        while time.monotonic() < extra_deadline:
            for _tp, recs in c.poll(timeout_ms=200).items():
                records.extend(recs)
        assert len(records) == expected, f"read {len(records)} records, expected {expected}"
        ends = c.end_offsets(tps)
        return records, ends
    finally:
        c.close()


@pytest.mark.parametrize("acks", [1, "all"])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_producer_consumer_roundtrip(broker, acks, compression):
    topic = unique_topic(f"kp-{acks}-{compression or 'none'}")
    n = 300
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=acks, compression_type=compression,
                      linger_ms=5, request_timeout_ms=20000)
    try:
        futures = [
            p.send(topic, key=f"k{i % 5}".encode(), value=f"msg-{i}".encode(),
                   headers=[("seq", str(i).encode()), ("src", b"kafka-python")])
            for i in range(n)
        ]
        p.flush(timeout=30)
        metas = [f.get(timeout=30) for f in futures]
    finally:
        p.close(timeout=10)
    assert [(m.topic, m.partition) for m in metas] == [(topic, 0)] * n
    assert [m.offset for m in metas] == list(range(n))

    records, ends = read_all(broker.bootstrap, topic, expected=n)
    assert [r.offset for r in records] == list(range(n))
    assert [(r.key, r.value) for r in records] == [
        (f"k{i % 5}".encode(), f"msg-{i}".encode()) for i in range(n)
    ]
    assert [r.headers for r in records] == [
        [("seq", str(i).encode()), ("src", b"kafka-python")] for i in range(n)
    ]
    assert ends == {TopicPartition(topic, 0): n}

    # and librdkafka reads the same bytes
    got = consume_all(broker.bootstrap, topic, min_count=n)
    assert [m.value() for m in got] == [f"msg-{i}".encode() for i in range(n)]


def test_admin_create_list_delete(broker):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=20000)
    try:
        topic = unique_topic("kp-admin")
        a.create_topics({topic: {"num_partitions": 3, "replication_factor": 1,
                                 "configs": {"retention.ms": "86400000"}}},
                        timeout_ms=10000, wait_for_metadata=True)
        assert topic in a.list_topics()
        (desc,) = a.describe_topics([topic])
        assert desc["name"] == topic and desc["error_code"] == 0
        assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2]

        with pytest.raises(Errors.TopicAlreadyExistsError):
            a.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}},
                            timeout_ms=10000)

        # produce to all three partitions and read back
        p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        try:
            metas = [p.send(topic, value=f"p{part}".encode(), partition=part).get(timeout=30)
                     for part in range(3)]
        finally:
            p.close(timeout=10)
        assert [(m.partition, m.offset) for m in metas] == [(0, 0), (1, 0), (2, 0)]
        records, _ = read_all(broker.bootstrap, topic, partitions=(0, 1, 2), expected=3)
        assert sorted((r.partition, r.value) for r in records) == [
            (0, b"p0"), (1, b"p1"), (2, b"p2")]

        a.delete_topics([topic], timeout_ms=10000)
        wait_until(lambda: topic not in a.list_topics(), 10, what="topic deleted")

        with pytest.raises(Errors.UnknownTopicOrPartitionError):
            a.delete_topics([topic], timeout_ms=10000)

        with pytest.raises(Errors.InvalidReplicationFactorError):
            a.create_topics({unique_topic("kp-rf"): {"num_partitions": 1,
                                                     "replication_factor": 3}},
                            timeout_ms=10000)
    finally:
        a.close()


def test_auto_created_topic_metadata(broker):
    """Producing to a new topic auto-creates it with the broker's default of 1 partition."""
    topic = unique_topic("kp-auto")
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1)
    try:
        meta = p.send(topic, value=b"hello").get(timeout=30)
        assert p.partitions_for(topic) == {0}
    finally:
        p.close(timeout=10)
    assert (meta.partition, meta.offset) == (0, 0)
    records, _ = read_all(broker.bootstrap, topic, expected=1)
    assert records[0].value == b"hello" and records[0].key is None
