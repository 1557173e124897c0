"""Log compaction (cleanup.policy=compact) read back by a real client: after the cleaner ran,
only the latest value per key remains in the compacted part of the log, offsets are preserved
(with gaps), tombstones disappear after delete.retention.ms, and records without a key are
refused; with cleanup.policy=compact,delete retention also deletes old segments."""

from __future__ import annotations

import time

from confluent_kafka import KafkaError

from helpers import consume_all, create_topic, produce_confluent, unique_topic, wait_until

KEYS = [b"k%d" % i for i in range(10)]
OLD_ONLY = [b"old-%d" % i for i in range(5)]


def compacted_view(bootstrap: str, topic: str):
    """(key -> [(offset, value)]) of everything readable."""
    seen: dict[bytes, list[tuple[int, bytes | None]]] = {}
    for m in consume_all(bootstrap, topic):
        seen.setdefault(m.key(), []).append((m.offset(), m.value()))
    return seen


def test_compacted_topic_keeps_the_latest_value_per_key(make_broker):
    broker = make_broker("--log-cleaner-backoff-ms", "200")
    topic = unique_topic("compact")
    # Small segments so the rounds below land in closed (compactable) segments, and tombstones
    # expire at once.
    create_topic(broker.bootstrap, topic, config={
        "cleanup.policy": "compact", "segment.bytes": "2048", "delete.retention.ms": "0",
        "min.cleanable.dirty.ratio": "0.01",
    })
    reports = []
    for round_no in range(3):
        reports += produce_confluent(broker.bootstrap, topic,
                                     [(k, b"%s-round%d" % (k, round_no)) for k in KEYS],
                                     conf={"linger.ms": 0, "batch.num.messages": 1})
    # k0 is deleted with a tombstone.
    reports += produce_confluent(broker.bootstrap, topic, [(b"k0", None)])
    # Filler with unique keys pushes every record above into closed segments.
    reports += produce_confluent(broker.bootstrap, topic,
                                 [(b"filler-%d" % i, b"x" * 200) for i in range(40)],
                                 conf={"linger.ms": 0, "batch.num.messages": 1})
    assert all(r[0] is None for r in reports), [r[0] for r in reports if r[0] is not None]
    total = len(reports)
    latest_offset = {}
    for err, _, offset, key, _ in reports:
        latest_offset[key] = offset

    def compacted():
        view = compacted_view(broker.bootstrap, topic)
        done = all(len(view.get(k, [])) <= 1 for k in KEYS) and b"k0" not in view
        return view if done else None

    view = wait_until(compacted, timeout=60, interval=0.5, what="the cleaner to compact")
    for k in KEYS[1:]:
        assert view[k] == [(latest_offset[k], k + b"-round2")], k
    assert b"k0" not in view
    # Every filler record is still there, at its original offset: offsets are preserved.
    fillers = {k: v for k, v in view.items() if k.startswith(b"filler-")}
    assert len(fillers) == 40
    for k, entries in fillers.items():
        assert [o for o, _ in entries] == [latest_offset[k]]
    offsets = sorted(o for entries in view.values() for o, _ in entries)
    assert offsets[-1] == total - 1
    assert len(offsets) < total  # compacted logs have gaps
    assert "compacted" in broker.log_text()


def test_compact_delete_topic_compacts_and_expires_old_segments(make_broker):
    """cleanup.policy=compact,delete: the cleaner keeps only the latest value per key, and time
    retention deletes whole segments older than retention.ms. The old part of the log is
    written with record timestamps two hours back (retention.ms is one hour), the new part with
    current ones, so retention can only take the old part and compaction can only explain the
    gaps in the new part; segment.ms makes the two parts separate segments."""
    from confluent_kafka import Producer, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    broker = make_broker("--log-cleaner-backoff-ms", "200", "--retention-check-interval-ms", "200")
    topic = unique_topic("compact-delete")
    segment_ms = 500
    a = create_topic(broker.bootstrap, topic, config={
        "cleanup.policy": "compact,delete", "segment.bytes": "1024", "segment.ms": str(segment_ms),
        "retention.ms": "3600000", "min.cleanable.dirty.ratio": "0.01",
    })

    def produce(messages, timestamp_ms=None):
        """[(key, value)] one record per batch; returns [(partition, offset, key, value)]."""
        reports = []

        def on_delivery(err, msg):
            assert err is None, err
            reports.append((msg.partition(), msg.offset(), msg.key(), msg.value()))

        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0,
                      "batch.num.messages": 1, "acks": "all"})
        for key, value in messages:
            extra = {} if timestamp_ms is None else {"timestamp": timestamp_ms}
            p.produce(topic, value=value, key=key, on_delivery=on_delivery, **extra)
            p.poll(0)
        assert p.flush(30) == 0
        assert len(reports) == len(messages)
        return reports

    def low_high():
        tp = TopicPartition(topic, 0)
        low = a.list_offsets({tp: OffsetSpec.earliest()}, request_timeout=10)[tp].result(20)
        high = a.list_offsets({tp: OffsetSpec.latest()}, request_timeout=10)[tp].result(20)
        return low.offset, high.offset

    # The old part: keys only it has ("old-*") and keys the new part overwrites (KEYS), two
    # hours old, spread over several segments.
    two_hours_ago = int(time.time() * 1000) - 2 * 3600 * 1000
    old = produce([(k, b"%s-old%d" % (k, r)) for r in range(2) for k in KEYS + OLD_ONLY],
                  timestamp_ms=two_hours_ago)
    old_end = old[-1][1] + 1
    # Past segment.ms the next append (or the retention check before it) rolls the segment,
    # so nothing new lands in a segment with old records.
    time.sleep(segment_ms * 2 / 1000)
    new = produce([(k, b"%s-new%d" % (k, r)) for r in range(3) for k in KEYS])
    assert new[0][1] == old_end
    latest = {key: (offset, value) for _, offset, key, value in new}

    last = {}

    def cleaned():
        low, high = low_high()
        view = compacted_view(broker.bootstrap, topic)
        last.update(low=low, high=high, records_per_key={k: len(v) for k, v in view.items()})
        done = low >= old_end and all(len(view.get(k, [])) == 1 for k in KEYS)
        return (low, high, view) if done else None

    try:
        low, high, view = wait_until(
            cleaned, timeout=60, interval=0.5,
            what=f"retention to delete the segments below offset {old_end} and the cleaner to "
                 f"leave one record per key above it")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {last}") from None
    # (b) Retention: the log starts exactly where the new part does; no old record is readable,
    # not even the only (hence latest) value of a key only the old part had.
    assert (low, high) == (old_end, old_end + len(new))
    assert not set(view) & set(OLD_ONLY)
    # (a) Compaction: of the new part only the latest value per key remains, at its offset.
    assert view == {k: [latest[k]] for k in KEYS}, view
    assert "compacted" in broker.log_text()


def test_compacted_topic_refuses_records_without_a_key(broker):
    topic = unique_topic("compact-nokey")
    create_topic(broker.bootstrap, topic, config={"cleanup.policy": "compact"})
    reports = produce_confluent(broker.bootstrap, topic, [(None, b"no key")],
                                conf={"retries": 0, "message.timeout.ms": 10000})
    err = reports[0][0]
    assert err is not None and err.code() == KafkaError.INVALID_RECORD, err
    ok = produce_confluent(broker.bootstrap, topic, [(b"key", b"with key")])
    assert ok[0][0] is None


def test_only_the_keyless_records_of_a_batch_fail(broker):
    """KIP-467: the produce response names the bad records of a batch; librdkafka fails those
    with INVALID_RECORD and the rest of the batch with _INVALID_DIFFERENT_RECORD."""
    topic = unique_topic("compact-mixed")
    create_topic(broker.bootstrap, topic, config={"cleanup.policy": "compact"})
    messages = [(None if i % 5 == 0 else b"k%d" % i, b"v%d" % i) for i in range(20)]
    # One batch: everything queued before the first send.
    reports = produce_confluent(broker.bootstrap, topic, messages,
                                conf={"linger.ms": 1000, "retries": 0,
                                      "message.timeout.ms": 20000})
    different = getattr(KafkaError, "_INVALID_DIFFERENT_RECORD", -138)
    keyless = [r[0].code() for r in reports if r[3] is None]
    keyed = [r[0].code() if r[0] is not None else None for r in reports if r[3] is not None]
    assert keyless == [KafkaError.INVALID_RECORD] * 4, keyless
    assert keyed == [different] * 16, keyed
