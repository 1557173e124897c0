"""confluent-kafka (librdkafka 2.16 bundled) against weir: producer acks, assign-only consumer,
multi-partition produce and the AdminClient operations weir implements."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import (
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from helpers import (
    admin,
    consume_all,
    consumer_conf,
    create_topic,
    kafka_error_code,
    kafka_python_read,
    produce_confluent,
    stored_batches,
    topic_partition_count,
    unique_topic,
    wait_until,
)


# ---------------------------------------------------------------------- produce / consume
@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_produce_acks_and_read_back(broker, acks):
    topic = unique_topic(f"ck-acks{acks}")
    n = 500
    msgs = [(f"k{i % 13}".encode(), f"value-{i}".encode(), [("seq", str(i).encode())])
            for i in range(n)]
    reports = produce_confluent(broker.bootstrap, topic, msgs, {"acks": acks})

    assert len(reports) == n
    errors = [r for r in reports if r[0] is not None]
    assert not errors, f"delivery errors: {errors[:3]}"
    if acks == "0":
        # No response for acks=0, so librdkafka cannot know the offsets.
        # (confluent-kafka shows librdkafka's OFFSET_INVALID as None)
        assert all(r[2] is None or r[2] < 0 for r in reports), f"acks=0 offsets: {reports[:3]}"
    else:
        assert sorted(r[2] for r in reports) == list(range(n)), "offsets not 0..n-1"
        by_offset = {r[2]: r for r in reports}
        assert [by_offset[i][4] for i in range(n)] == [m[1] for m in msgs], "order"

    got = consume_all(broker.bootstrap, topic, min_count=n, timeout=30)
    assert [m.offset() for m in got] == list(range(n))
    assert [(m.key(), m.value()) for m in got] == [(k, v) for k, v, _ in msgs]
    assert [m.headers() for m in got] == [h for _, _, h in msgs]
    now_ms = time.time() * 1000
    for m in got:
        ts_type, ts = m.timestamp()
        assert ts_type == 1 and abs(ts - now_ms) < 120_000, m.timestamp()  # CreateTime


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_produce_compressed(broker, codec):
    topic = unique_topic(f"ck-{codec}")
    n = 1000
    msgs = [(None, (f"{i:06d}-" + "payload" * 20).encode()) for i in range(n)]
    reports = produce_confluent(broker.bootstrap, topic, msgs,
                                {"acks": "all", "compression.codec": codec, "linger.ms": 50})
    assert [r[0] for r in reports] == [None] * n
    got = consume_all(broker.bootstrap, topic, min_count=n)
    assert [m.value() for m in got] == [v for _, v in msgs]
    assert [m.offset() for m in got] == list(range(n))
    assert all(m.key() is None for m in got)


def test_multi_partition_produce(broker):
    topic = unique_topic("ck-multi")
    create_topic(broker.bootstrap, topic, partitions=3)
    n = 600
    msgs = [(f"user-{i % 30}".encode(), f"{i}".encode()) for i in range(n)]
    reports = produce_confluent(broker.bootstrap, topic, msgs, {"acks": "all"})
    assert all(r[0] is None for r in reports), [r for r in reports if r[0]][:3]

    got = consume_all(broker.bootstrap, topic, partitions=(0, 1, 2), min_count=n)
    assert len(got) == n
    by_part: dict[int, list] = {}
    key_part: dict[bytes, int] = {}
    for m in got:
        by_part.setdefault(m.partition(), []).append(m)
        assert key_part.setdefault(m.key(), m.partition()) == m.partition(), \
            f"key {m.key()} in two partitions"
    assert set(by_part) == {0, 1, 2}, f"keys did not spread: {sorted(by_part)}"
    for p, ms in by_part.items():
        assert [m.offset() for m in ms] == list(range(len(ms))), f"partition {p} offsets"
        values = [int(m.value()) for m in ms]
        assert values == sorted(values), f"partition {p} out of order"
    # delivery reports agree with what is stored
    stored = {(m.partition(), m.offset()): m.value() for m in got}
    for err, part, off, _k, v in reports:
        assert stored[(part, off)] == v


def test_explicit_partition_and_seek(broker):
    topic = unique_topic("ck-seek")
    create_topic(broker.bootstrap, topic, partitions=2)
    msgs = [(None, f"p1-{i}".encode(), None, 1) for i in range(20)]
    reports = produce_confluent(broker.bootstrap, topic, msgs, {"acks": "1"})
    assert {(r[1], r[2]) for r in reports} == {(1, i) for i in range(20)}

    c = Consumer(consumer_conf(broker.bootstrap))
    try:
        c.assign([TopicPartition(topic, 1, 15)])
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 5 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append((m.offset(), m.value()))
            elif m is not None and m.error().code() != KafkaError._PARTITION_EOF:
                raise AssertionError(m.error())
        assert got == [(i, f"p1-{i}".encode()) for i in range(15, 20)]
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 1), timeout=10)
        assert (lo, hi) == (0, 20)
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        assert (lo, hi) == (0, 0)
    finally:
        c.close()


# ---------------------------------------------------------------------- admin: topics
def test_create_topics_variants(broker):
    a = admin(broker.bootstrap)
    t1 = unique_topic("ck-create")
    fs = a.create_topics([NewTopic(t1, num_partitions=5, replication_factor=1,
                                   config={"retention.ms": "3600000"})], operation_timeout=10)
    assert fs[t1].result(timeout=20) is None
    wait_until(lambda: topic_partition_count(a, t1) == 5, 10, what="5 partitions")

    # validate_only: accepted, but nothing is created
    t2 = unique_topic("ck-validate")
    fs = a.create_topics([NewTopic(t2, num_partitions=2, replication_factor=1)],
                         validate_only=True, operation_timeout=10)
    assert fs[t2].result(timeout=20) is None
    time.sleep(0.5)
    assert topic_partition_count(a, t2) is None, "validate_only created the topic"

    # already exists
    fs = a.create_topics([NewTopic(t1, num_partitions=1, replication_factor=1)],
                         operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        fs[t1].result(timeout=20)
    assert kafka_error_code(ei.value) == KafkaError.TOPIC_ALREADY_EXISTS, ei.value
    assert topic_partition_count(a, t1) == 5, "failed create changed the existing topic"

    # replication factor larger than the (single-node) cluster
    t3 = unique_topic("ck-rf3")
    fs = a.create_topics([NewTopic(t3, num_partitions=1, replication_factor=3)],
                         operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        fs[t3].result(timeout=20)
    assert kafka_error_code(ei.value) == KafkaError.INVALID_REPLICATION_FACTOR, ei.value
    assert topic_partition_count(a, t3) is None

    # several topics in one request, one good and one bad
    t4, t5 = unique_topic("ck-batch-ok"), unique_topic("ck-batch-bad")
    fs = a.create_topics([NewTopic(t4, num_partitions=2, replication_factor=1),
                          NewTopic(t5, num_partitions=1, replication_factor=7)],
                         operation_timeout=10)
    assert fs[t4].result(timeout=20) is None
    with pytest.raises(KafkaException) as ei:
        fs[t5].result(timeout=20)
    assert kafka_error_code(ei.value) == KafkaError.INVALID_REPLICATION_FACTOR
    wait_until(lambda: topic_partition_count(a, t4) == 2, 10, what=f"{t4} created")


def test_list_and_describe_topics(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic("ck-describe")
    create_topic(broker.bootstrap, topic, partitions=3)

    md = a.list_topics(timeout=10)
    assert topic in md.topics
    assert sorted(md.topics[topic].partitions) == [0, 1, 2]
    assert len(md.brokers) == 1
    (node_id, b), = md.brokers.items()
    assert f"{b.host}:{b.port}" == broker.bootstrap
    assert md.controller_id == node_id, f"controller id {md.controller_id} (brokers {md.brokers})"
    for p in md.topics[topic].partitions.values():
        assert p.leader == node_id and p.replicas == [node_id] and p.isrs == [node_id]

    desc = a.describe_topics(TopicCollection([topic]))[topic].result(timeout=20)
    assert desc.name == topic
    assert not desc.is_internal
    assert [p.id for p in desc.partitions] == [0, 1, 2]
    assert (desc.topic_id.get_most_significant_bits(),
            desc.topic_id.get_least_significant_bits()) != (0, 0), "topic id is the zero UUID"
    assert all(p.leader.id == node_id for p in desc.partitions)

    # a topic's id is its own: a second topic gets a different one
    other = unique_topic("ck-describe2")
    create_topic(broker.bootstrap, other)
    desc2 = a.describe_topics(TopicCollection([other]))[other].result(timeout=20)
    assert str(desc2.topic_id) != str(desc.topic_id)

    cluster = a.describe_cluster(request_timeout=10).result(timeout=20)
    assert [n.id for n in cluster.nodes] == [node_id]
    assert cluster.controller.id == node_id
    assert cluster.cluster_id, "empty cluster id"


def test_delete_topics(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic("ck-delete")
    create_topic(broker.bootstrap, topic, partitions=2)
    reports = produce_confluent(broker.bootstrap, topic, [(None, b"x")] * 10, {"acks": "all"})
    assert all(r[0] is None for r in reports)

    fs = a.delete_topics([topic], operation_timeout=10)
    assert fs[topic].result(timeout=20) is None
    wait_until(lambda: topic_partition_count(a, topic) is None, 10, what="topic to disappear")

    # deleting it again: UNKNOWN_TOPIC_OR_PART
    fs = a.delete_topics([topic], operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        fs[topic].result(timeout=20)
    assert kafka_error_code(ei.value) == KafkaError.UNKNOWN_TOPIC_OR_PART, ei.value

    # re-creating the name gives an empty topic (old data must not come back)
    create_topic(broker.bootstrap, topic, partitions=1)
    c = Consumer(consumer_conf(broker.bootstrap))
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 0)
    finally:
        c.close()


def test_create_partitions(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic("ck-grow")
    create_topic(broker.bootstrap, topic, partitions=1)
    fs = a.create_partitions([NewPartitions(topic, 4)], operation_timeout=10)
    assert fs[topic].result(timeout=20) is None
    wait_until(lambda: topic_partition_count(a, topic) == 4, 10, what="4 partitions")

    # shrinking is refused
    fs = a.create_partitions([NewPartitions(topic, 2)], operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        fs[topic].result(timeout=20)
    assert kafka_error_code(ei.value) == KafkaError.INVALID_PARTITIONS, ei.value
    assert topic_partition_count(a, topic) == 4

    # the new partitions take writes and serve reads
    msgs = [(None, f"p{p}".encode(), None, p) for p in range(4)]
    reports = produce_confluent(broker.bootstrap, topic, msgs, {"acks": "all"})
    assert sorted((r[1], r[2]) for r in reports) == [(p, 0) for p in range(4)]
    got = consume_all(broker.bootstrap, topic, partitions=(0, 1, 2, 3), min_count=4)
    assert sorted((m.partition(), m.value()) for m in got) == [(p, f"p{p}".encode()) for p in range(4)]


# ---------------------------------------------------------------------- admin: configs
def describe_topic_config(a, topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    return a.describe_configs([res], request_timeout=10)[res].result(timeout=20)


def test_describe_configs(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic("ck-cfg")
    create_topic(broker.bootstrap, topic, config={"retention.ms": "123456789"})
    cfg = describe_topic_config(a, topic)

    assert cfg["retention.ms"].value == "123456789"
    src = cfg["retention.ms"].source
    assert getattr(src, "value", src) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, src
    assert not cfg["retention.ms"].is_default
    # Kafka's defaults for what was not set
    assert cfg["cleanup.policy"].value == "delete"
    assert cfg["cleanup.policy"].is_default
    for name in ("segment.bytes", "max.message.bytes", "min.insync.replicas",
                 "retention.bytes", "message.timestamp.type"):
        assert name in cfg, f"{name} missing from DescribeConfigs ({sorted(cfg)})"
    assert cfg["retention.bytes"].value == "-1"
    assert cfg["message.timestamp.type"].value == "CreateTime"

    # unknown topic
    res = ConfigResource(ResourceType.TOPIC, unique_topic("ck-cfg-missing"))
    with pytest.raises(KafkaException) as ei:
        a.describe_configs([res], request_timeout=10)[res].result(timeout=20)
    assert kafka_error_code(ei.value) == KafkaError.UNKNOWN_TOPIC_OR_PART, ei.value


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated:DeprecationWarning")
def test_alter_configs(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic("ck-alter")
    create_topic(broker.bootstrap, topic, config={"retention.ms": "1000000"})

    # legacy AlterConfigs replaces the whole set of dynamic configs
    res = ConfigResource(ResourceType.TOPIC, topic,
                         set_config={"retention.ms": "7200000", "cleanup.policy": "compact"})
    assert a.alter_configs([res], request_timeout=10)[res].result(timeout=20) is None
    cfg = describe_topic_config(a, topic)
    assert cfg["retention.ms"].value == "7200000"
    assert cfg["cleanup.policy"].value == "compact"
    assert not cfg["cleanup.policy"].is_default

    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "5000000"})
    a.alter_configs([res], request_timeout=10)[res].result(timeout=20)
    cfg = describe_topic_config(a, topic)
    assert cfg["retention.ms"].value == "5000000"
    assert cfg["cleanup.policy"].value == "delete", "AlterConfigs must reset unset configs"
    assert cfg["cleanup.policy"].is_default

    # an invalid value is refused
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "not-a-number"})
    with pytest.raises(KafkaException) as ei:
        a.alter_configs([res], request_timeout=10)[res].result(timeout=20)
    assert kafka_error_code(ei.value) == KafkaError.INVALID_CONFIG, ei.value
    assert describe_topic_config(a, topic)["retention.ms"].value == "5000000"


def test_incremental_alter_configs(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic("ck-incr")
    create_topic(broker.bootstrap, topic, config={"retention.ms": "1000000"})

    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("segment.bytes", "10485760", incremental_operation=AlterConfigOpType.SET),
    ])
    assert a.incremental_alter_configs([res])[res].result(timeout=20) is None
    cfg = describe_topic_config(a, topic)
    assert cfg["segment.bytes"].value == "10485760"
    assert cfg["retention.ms"].value == "1000000", "incremental SET dropped another config"

    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    a.incremental_alter_configs([res])[res].result(timeout=20)
    cfg = describe_topic_config(a, topic)
    assert cfg["retention.ms"].value == "604800000"  # Kafka's default, 7 days
    assert cfg["retention.ms"].is_default
    assert cfg["segment.bytes"].value == "10485760"

    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET),
    ])
    with pytest.raises(KafkaException) as ei:
        a.incremental_alter_configs([res])[res].result(timeout=20)
    assert kafka_error_code(ei.value) == KafkaError.INVALID_CONFIG, ei.value


# ---------------------------------------------------------------------- offsets
def test_list_offsets_and_offsets_for_times(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic("ck-offsets")
    create_topic(broker.bootstrap, topic)
    base = int(time.time() * 1000) - 60_000
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    errs = []
    for i in range(10):
        p.produce(topic, value=f"v{i}".encode(), timestamp=base + i * 1000,
                  on_delivery=lambda e, m: errs.append(e))
        p.flush(10)  # one batch per message, so the time index sees each
    assert errs == [None] * 10

    tp = TopicPartition(topic, 0)
    r = a.list_offsets({tp: OffsetSpec.earliest()}, request_timeout=10)[tp].result(timeout=20)
    assert r.offset == 0
    r = a.list_offsets({tp: OffsetSpec.latest()}, request_timeout=10)[tp].result(timeout=20)
    assert r.offset == 10
    r = a.list_offsets({tp: OffsetSpec.for_timestamp(base + 2500)},
                       request_timeout=10)[tp].result(timeout=20)
    assert (r.offset, r.timestamp) == (3, base + 3000)
    r = a.list_offsets({tp: OffsetSpec.for_timestamp(base + 10_000_000)},
                       request_timeout=10)[tp].result(timeout=20)
    assert r.offset == -1, "timestamp after the last record must give -1"

    c = Consumer(consumer_conf(broker.bootstrap))
    try:
        assert c.get_watermark_offsets(tp, timeout=10) == (0, 10)
        res = c.offsets_for_times([TopicPartition(topic, 0, base + 4000)], timeout=10)
        assert [(x.partition, x.offset) for x in res] == [(0, 4)] and res[0].error is None
        res = c.offsets_for_times([TopicPartition(topic, 0, base - 1)], timeout=10)
        assert res[0].offset == 0
        res = c.offsets_for_times([TopicPartition(topic, 0, base + 10_000_000)], timeout=10)
        assert res[0].offset == OFFSET_END
        # seek to the offset found for a time and read from there
        c.assign([TopicPartition(topic, 0, 7)])
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 3 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append((m.offset(), m.value(), m.timestamp()[1]))
        assert got == [(i, f"v{i}".encode(), base + i * 1000) for i in (7, 8, 9)]
    finally:
        c.close()


def test_delete_records(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic("ck-delrec")
    create_topic(broker.bootstrap, topic)
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0})
    errs = []
    for i in range(30):
        p.produce(topic, value=f"r{i}".encode(), on_delivery=lambda e, m: errs.append(e))
        if i % 10 == 9:
            p.flush(10)  # three batches
    assert errs == [None] * 30

    tp = TopicPartition(topic, 0, 15)
    fs = a.delete_records([tp], request_timeout=10, operation_timeout=10)
    (res,) = fs.values()
    assert res.result(timeout=20).low_watermark == 15

    c = Consumer(consumer_conf(broker.bootstrap))
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (15, 30)
    finally:
        c.close()
    tp0 = TopicPartition(topic, 0)
    r = a.list_offsets({tp0: OffsetSpec.earliest()}, request_timeout=10)[tp0].result(timeout=20)
    assert r.offset == 15
    got = consume_all(broker.bootstrap, topic, min_count=15)
    assert [(m.offset(), m.value()) for m in got] == [(i, f"r{i}".encode()) for i in range(15, 30)]

    # beyond the high watermark: OFFSET_OUT_OF_RANGE
    fs = a.delete_records([TopicPartition(topic, 0, 31)], request_timeout=10)
    (res,) = fs.values()
    with pytest.raises(KafkaException) as ei:
        res.result(timeout=20)
    assert kafka_error_code(ei.value) == KafkaError.OFFSET_OUT_OF_RANGE, ei.value

    # reading below the low watermark is OFFSET_OUT_OF_RANGE for the consumer
    c = Consumer(consumer_conf(broker.bootstrap))
    try:
        c.assign([TopicPartition(topic, 0, 3)])
        deadline = time.monotonic() + 20
        err = None
        while err is None and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None:
                assert m.error() is not None, f"read offset {m.offset()} below low watermark"
                if m.error().code() != KafkaError._PARTITION_EOF:
                    err = m.error()
        assert err is not None and err.code() in (
            KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET), err
    finally:
        c.close()


def test_long_poll_fetch_sees_new_data(broker):
    topic = unique_topic("ck-longpoll")
    create_topic(broker.bootstrap, topic)
    c = Consumer(consumer_conf(broker.bootstrap, **{"fetch.wait.max.ms": 5000}))
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        m = c.poll(1.0)
        assert m is None or m.error() is not None, "a message in an empty topic"  # EOF at most
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "1", "linger.ms": 0})
        p.produce(topic, value=b"late")
        assert p.flush(10) == 0
        t0 = time.monotonic()
        got = None
        while got is None and time.monotonic() - t0 < 10:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got = m
        assert got is not None and got.value() == b"late"
        # a parked fetch must be woken by the produce, not wait out fetch.wait.max.ms
        assert time.monotonic() - t0 < 4.0, f"new data took {time.monotonic() - t0:.1f}s to arrive"
    finally:
        c.close()


def test_large_messages(broker):
    topic = unique_topic("ck-large")
    values = [bytes([65 + i]) * size for i, size in enumerate([900_000, 500_000, 1, 999_000])]
    reports = produce_confluent(broker.bootstrap, topic, [(None, v) for v in values],
                                {"acks": "all", "linger.ms": 0})
    assert [r[0] for r in reports] == [None] * 4
    got = consume_all(broker.bootstrap, topic, min_count=4)
    assert [m.value() for m in got] == values


def test_large_fetches_sent_from_segment_files(broker):
    """Fetches of 64 KiB and more leave the records in the segment file and send them with
    sendfile: every record comes back exactly, to librdkafka (read_committed, its default) and
    to kafka-python (read_uncommitted), from the start and from the middle of a partition,
    across segment boundaries (segment.bytes 256 KiB)."""
    topic = unique_topic("ck-sendfile")
    create_topic(broker.bootstrap, topic, partitions=3, config={"segment.bytes": str(256 * 1024)})
    n = 1500

    def value(p: int, i: int) -> bytes:
        head = f"{p}:{i}:".encode()
        return head + bytes((p * 7 + i + j) % 251 for j in range(1024 - len(head)))

    msgs = [(None, value(p, i), None, p) for i in range(n) for p in range(3)]
    reports = produce_confluent(broker.bootstrap, topic, msgs,
                                {"linger.ms": 50, "batch.size": 200_000, "acks": "all"})
    assert [r for r in reports if r[0] is not None] == []
    # The batches are large enough that reads of them are sent from the files.
    counts = [count for _, _, count in stored_batches(broker.data_dir, topic, 0)]
    assert max(counts) >= 64, f"batches of 1 KiB records too small for the file path: {counts}"
    got = consume_all(broker.bootstrap, topic, partitions=(0, 1, 2), min_count=3 * n)
    for p in range(3):
        assert [m.value() for m in got if m.partition() == p] == [value(p, i) for i in range(n)]
    mid = consume_all(broker.bootstrap, topic, partitions=(1,), start_offset=777, min_count=n - 777)
    assert [m.value() for m in mid] == [value(1, i) for i in range(777, n)]
    records, _ = kafka_python_read(broker.bootstrap, topic, partitions=(0, 1, 2), expected=3 * n)
    for p in range(3):
        assert [r.value for r in records if r.partition == p] == [value(p, i) for i in range(n)]


def test_auto_create_uses_num_partitions_flag(make_broker):
    b = make_broker("--num-partitions", "4")
    topic = unique_topic("ck-autoparts")
    reports = produce_confluent(b.bootstrap, topic, [(f"k{i}".encode(), b"v") for i in range(40)],
                                {"acks": "all"})
    assert all(r[0] is None for r in reports)
    assert topic_partition_count(admin(b.bootstrap), topic) == 4
    assert len({r[1] for r in reports}) > 1, "40 keys all went to one of 4 partitions"


def test_idempotent_producer(broker):
    """enable.idempotence: librdkafka needs InitProducerId and per-partition sequences."""
    topic = unique_topic("ck-idem")
    create_topic(broker.bootstrap, topic, partitions=2)
    n = 3000
    msgs = [(f"k{i % 10}".encode(), f"{i}".encode()) for i in range(n)]
    reports = produce_confluent(broker.bootstrap, topic, msgs,
                                {"enable.idempotence": True, "acks": "all", "linger.ms": 5,
                                 "max.in.flight.requests.per.connection": 5})
    assert [r for r in reports if r[0] is not None] == []
    got = consume_all(broker.bootstrap, topic, partitions=(0, 1), min_count=n)
    assert sorted(int(m.value()) for m in got) == list(range(n)), "lost or duplicated messages"
    for p in (0, 1):
        vals = [int(m.value()) for m in got if m.partition() == p]
        assert vals == sorted(vals), f"partition {p} out of order"


# ---------------------------------------------------------------------- seek / max timestamp
def _poll_values(c, count: int, timeout: float = 20.0):
    """The next `count` messages of an assigned consumer as (offset, value), skipping EOFs."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error() is not None:
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise AssertionError(f"consumer error: {m.error()}")
        got.append((m.offset(), m.value()))
    return got


def test_consumer_seek_back_and_forward(broker):
    """assign, consume, then Consumer.seek() back to an earlier offset and forward past unread
    ones, landing in the middle of lz4 batches of 10 records each."""
    from confluent_kafka import Producer

    topic = unique_topic("ck-seekback")
    create_topic(broker.bootstrap, topic)
    n = 60
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 1000,
                  "compression.codec": "lz4"})
    errs = []
    for i in range(n):
        p.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                  on_delivery=lambda e, m: errs.append(e))
        if i % 10 == 9:
            assert p.flush(10) == 0  # one batch of 10 records per flush
    assert errs == [None] * n
    assert [(off, count) for off, _c, count in stored_batches(broker.data_dir, topic)] == [
        (i, 10) for i in range(0, n, 10)]

    tp = TopicPartition(topic, 0)
    expect = lambda lo, hi: [(i, f"v{i}".encode()) for i in range(lo, hi)]  # noqa: E731
    c = Consumer(consumer_conf(broker.bootstrap))
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        assert _poll_values(c, 25) == expect(0, 25)

        c.seek(TopicPartition(topic, 0, 7))  # back, into the first batch
        assert _poll_values(c, 6) == expect(7, 13)
        assert c.position([tp])[0].offset == 13

        c.seek(TopicPartition(topic, 0, 43))  # forward, past offsets never read
        assert _poll_values(c, 5) == expect(43, 48)

        c.seek(TopicPartition(topic, 0, 0))  # back to the start, then read to the end
        assert _poll_values(c, n) == expect(0, n)
        assert _poll_values(c, 1, timeout=1.5) == [], "a record beyond the end"
    finally:
        c.close()


def test_list_offsets_max_timestamp(broker):
    """ListOffsets with MAX_TIMESTAMP (KIP-734) gives the offset and timestamp of the record with
    the largest timestamp, which here is neither the last record nor the last of its batch."""
    from confluent_kafka import Producer

    a = admin(broker.bootstrap)
    topic = unique_topic("ck-maxts")
    create_topic(broker.bootstrap, topic, partitions=2)
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    base = int(time.time() * 1000) - 600_000

    def max_ts(tp):
        r = a.list_offsets({tp: OffsetSpec.max_timestamp()},
                           request_timeout=10)[tp].result(timeout=20)
        return r.offset, r.timestamp

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 500})
    errs = []
    # partition 0: one batch per record; the largest timestamp is at offset 2 of 6
    for i, dt in enumerate([1000, 4000, 9000, 2000, 7000, 3000]):
        p.produce(topic, value=f"a{i}".encode(), partition=0, timestamp=base + dt,
                  on_delivery=lambda e, m: errs.append(e))
        assert p.flush(10) == 0
    # partition 1: one batch of 5 records with the largest timestamp at offset 1, then a
    # later batch whose timestamps are all smaller
    for i, dt in enumerate([5000, 8000, 6000, 2000, 4000]):
        p.produce(topic, value=f"b{i}".encode(), partition=1, timestamp=base + dt,
                  on_delivery=lambda e, m: errs.append(e))
    assert p.flush(10) == 0
    for i, dt in enumerate([100, 200]):
        p.produce(topic, value=f"c{i}".encode(), partition=1, timestamp=base + dt,
                  on_delivery=lambda e, m: errs.append(e))
    assert p.flush(10) == 0
    assert errs == [None] * 13
    assert [(o, c) for o, _x, c in stored_batches(broker.data_dir, topic, 1)] == [(0, 5), (5, 2)]

    assert max_ts(tp0) == (2, base + 9000)
    assert max_ts(tp1) == (1, base + 8000)
    got = consume_all(broker.bootstrap, topic, partitions=(1,), min_count=7)
    assert [(m.offset(), m.timestamp()[1]) for m in got][:2] == [(0, base + 5000), (1, base + 8000)]
