"""kafka-python (pure Python, 3.0.x) against weir: producer acks and every codec (none, gzip,
snappy, lz4, zstd), assign-only consumer reading its own batches and librdkafka's compressed ones,
KafkaAdminClient topic management."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka import errors as Errors

from helpers import (
    CODEC_IDS,
    consume_all,
    produce_confluent,
    stored_batches,
    unique_topic,
    wait_until,
)
from helpers import kafka_python_read as read_all

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("acks", [1, "all"])
@pytest.mark.parametrize("compression", CODECS)
def test_producer_consumer_roundtrip(broker, acks, compression):
    topic = unique_topic(f"kp-{acks}-{compression}")
    n = 300
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=acks,
                      compression_type=None if compression == "none" else compression,
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

    # stored as sent: every batch in the segment files still carries the producer's codec
    batches = stored_batches(broker.data_dir, topic)
    assert {codec for _, codec, _ in batches} == {CODEC_IDS[compression]}, batches
    assert sum(count for _, _, count in batches) == n, batches

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
    assert [(m.offset(), m.key(), m.value()) for m in got] == [
        (i, f"k{i % 5}".encode(), f"msg-{i}".encode()) for i in range(n)
    ]
    assert [m.headers() for m in got] == [
        [("seq", str(i).encode()), ("src", b"kafka-python")] for i in range(n)
    ]


@pytest.mark.parametrize("codec", CODECS)
def test_reads_batches_compressed_by_librdkafka(broker, codec):
    """Batches compressed by confluent-kafka (librdkafka's codecs) are stored as they came and
    kafka-python decompresses them: the broker serves the producer's bytes."""
    topic = unique_topic(f"kp-read-{codec}")
    n = 400
    msgs = [(f"key-{i % 7}".encode() if i % 3 else None, (f"{i:05d}-" + "abc" * 30).encode(),
             [("i", str(i).encode()), ("codec", codec.encode())])
            for i in range(n)]
    reports = produce_confluent(broker.bootstrap, topic, msgs,
                                {"acks": "all", "compression.codec": codec, "linger.ms": 50})
    assert [r[0] for r in reports] == [None] * n

    batches = stored_batches(broker.data_dir, topic)
    assert {c for _, c, _ in batches} == {CODEC_IDS[codec]}, batches
    assert sum(count for _, _, count in batches) == n, batches
    if codec != "none":
        assert any(count > 1 for _, _, count in batches), f"no multi-record batch: {batches}"

    records, ends = read_all(broker.bootstrap, topic, expected=n)
    assert [r.offset for r in records] == list(range(n))
    assert [(r.key, r.value) for r in records] == [(k, v) for k, v, _ in msgs]
    assert [r.headers for r in records] == [h for _, _, h in msgs]
    assert ends == {TopicPartition(topic, 0): n}


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
