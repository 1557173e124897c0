"""Shared helpers for the compat tests (confluent-kafka based read-back, admin, waiting)."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic


def unique_topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Polls predicate() until it returns a truthy value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


# ---------------------------------------------------------------------- confluent-kafka
def consumer_conf(bootstrap: str, **extra) -> dict:
    """Assign-only consumer: librdkafka's Consumer type insists on a group.id, but with
    assign() + explicit offsets and auto-commit off it never joins, fetches or commits offsets."""
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "unused-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "socket.timeout.ms": 10000,
    }
    conf.update(extra)
    return conf


def consume_all(bootstrap: str, topic: str, partitions=(0,), timeout: float = 30.0,
                start_offset: int = OFFSET_BEGINNING, min_count: int = 0):
    """Reads every partition from `start_offset` until each has reported EOF at least once
    after `min_count` messages in total arrived. Returns the list of confluent_kafka Messages
    (no error messages). Fails on any consumer error other than EOF, or on timeout."""
    c = Consumer(consumer_conf(bootstrap))
    try:
        c.assign([TopicPartition(topic, p, start_offset) for p in partitions])
        msgs = []
        eof = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = c.consume(num_messages=10000, timeout=0.5)
            for m in batch:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                        continue
                    raise AssertionError(f"consumer error on {topic}: {err}")
                eof.discard(m.partition())
                msgs.append(m)
            if len(msgs) >= min_count and eof >= set(partitions):
                return msgs
        raise AssertionError(
            f"timed out after {timeout}s reading {topic} {list(partitions)}: got {len(msgs)} "
            f"messages (wanted >= {min_count}), EOF seen on {sorted(eof)}"
        )
    finally:
        c.close()


def produce_confluent(bootstrap: str, topic: str, messages, conf: dict | None = None,
                      timeout: float = 30.0):
    """Produces [(key, value[, headers[, partition]])] and returns the delivery reports as
    (err, partition, offset, key, value) in callback order. Fails if flush times out."""
    reports = []

    def on_delivery(err, msg):
        reports.append((err, msg.partition(), msg.offset(), msg.key(), msg.value()))

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **(conf or {})})
    for m in messages:
        key, value = m[0], m[1]
        kwargs = {}
        if len(m) > 2 and m[2] is not None:
            kwargs["headers"] = m[2]
        if len(m) > 3 and m[3] is not None:
            kwargs["partition"] = m[3]
        while True:
            try:
                p.produce(topic, value=value, key=key, on_delivery=on_delivery, **kwargs)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    remaining = p.flush(timeout)
    assert remaining == 0, f"{remaining} messages still undelivered after {timeout}s"
    return reports


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def create_topic(bootstrap: str, topic: str, partitions: int = 1, config: dict | None = None):
    a = admin(bootstrap)
    fs = a.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=10, request_timeout=15,
    )
    fs[topic].result(timeout=20)
    wait_until(lambda: topic_partition_count(a, topic) == partitions, 10,
               what=f"{topic} to show {partitions} partitions in metadata")
    return a


def topic_partition_count(a: AdminClient, topic: str):
    """Partitions of `topic` in a full metadata listing (a listing that names no topic,
    so it cannot auto-create it); None if the topic is absent."""
    md = a.list_topics(timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return len(t.partitions)


def kafka_error_code(exc: BaseException):
    """The KafkaError code carried by a KafkaException (or None)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0].code()
    return None


# ---------------------------------------------------------------- configs (AdminClient)
def config_source(entry) -> int:
    """The wire code of a described ConfigEntry's source (an enum member or a plain int)."""
    s = entry.source
    return getattr(s, "value", s)


def incremental_alter(a: AdminClient, resource_type, name: str, *ops, validate_only: bool = False):
    """IncrementalAlterConfigs of one resource with (config, AlterConfigOpType, value) triples."""
    from confluent_kafka.admin import ConfigEntry, ConfigResource
    res = ConfigResource(resource_type, name, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=op) for k, op, v in ops
    ])
    return a.incremental_alter_configs([res], request_timeout=10,
                                       validate_only=validate_only)[res].result(timeout=20)


def describe_configs(a: AdminClient, resource_type, name: str) -> dict:
    """{name: ConfigEntry} of one resource."""
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource(resource_type, name)
    return a.describe_configs([res], request_timeout=10)[res].result(timeout=20)


def error_code_of(fn) -> int:
    """The KafkaError code of the KafkaException that `fn()` raises (failing if none is)."""
    import pytest
    with pytest.raises(KafkaException) as ei:
        fn()
    return kafka_error_code(ei.value)


# ---------------------------------------------------------------- compression
# The codec ids of a record batch's attributes (bits 0-2), by the names the clients use.
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def stored_batches(data_dir, topic: str, partition: int = 0):
    """[(base_offset, codec id, record count)] of every record batch in the partition's segment
    files under the broker's data directory, parsed (and CRC-checked) by kafka-python: what the
    broker stored, as opposed to what a client decoded from a Fetch."""
    from pathlib import Path

    from kafka.record.memory_records import MemoryRecords

    pdir = Path(data_dir) / "logs" / f"{topic}-{partition}"
    segments = sorted(pdir.glob("*.log"))
    assert segments, f"no segment files in {pdir}"
    out = []
    for seg in segments:
        records = MemoryRecords(seg.read_bytes())
        while records.has_next():
            batch = records.next_batch()
            assert batch.validate_crc(), f"bad CRC in stored batch at {batch.base_offset} of {seg}"
            out.append((batch.base_offset, batch.compression_type, len(list(batch))))
    return out


# ---------------------------------------------------------------- kafka-python
def kafka_python_read(bootstrap: str, topic: str, partitions=(0,), expected: int = 0,
                      timeout: float = 30.0):
    """Reads `expected` records from the start of the partitions with a kafka-python consumer
    (group_id=None, assign), checks that no more show up within a further second, and returns
    (records, end_offsets)."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KpTopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", request_timeout_ms=20000)
    try:
        tps = [KpTopicPartition(topic, p) for p in partitions]
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
