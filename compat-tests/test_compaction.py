"""Log compaction (cleanup.policy=compact) read back by a real client: after the cleaner ran,
only the latest value per key remains in the compacted part of the log, offsets are preserved
(with gaps), tombstones disappear after delete.retention.ms, and records without a key are
refused."""

from __future__ import annotations

from confluent_kafka import KafkaError

from helpers import consume_all, create_topic, produce_confluent, unique_topic, wait_until

KEYS = [b"k%d" % i for i in range(10)]


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
