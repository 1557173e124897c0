"""Acknowledged writes survive `kill -9` of the broker (default flush policy)."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import KafkaError, Producer, TopicCollection

from helpers import admin, consume_all, create_topic, unique_topic

pytestmark = pytest.mark.broker_warnings_ok  # recovery after kill -9 may log a truncated tail


def topic_id(bootstrap: str, topic: str) -> str:
    a = admin(bootstrap)  # keep the client alive until the future is done
    desc = a.describe_topics(TopicCollection([topic]))[topic].result(timeout=20)
    tid = desc.topic_id
    assert (tid.get_most_significant_bits(), tid.get_least_significant_bits()) != (0, 0)
    return str(tid)


def seq_of(value: bytes) -> int:
    return int(value.split(b"|", 1)[0])


def value_for(i: int) -> bytes:
    return b"%09d|" % i + b"d" * 40


def test_acked_messages_survive_sigkill(broker):
    topic = unique_topic("dur-100k")
    create_topic(broker.bootstrap, topic)
    id_before = topic_id(broker.bootstrap, topic)

    n = 100_000
    acked: list[tuple[int, int]] = []  # (seq, offset)
    errors = []

    def on_delivery(err, msg):
        if err is None:
            acked.append((seq_of(msg.value()), msg.offset()))
        else:
            errors.append(err)

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2,
                  "queue.buffering.max.messages": 200_000, "message.timeout.ms": 60_000})
    t0 = time.monotonic()
    for i in range(n):
        while True:
            try:
                p.produce(topic, value=value_for(i), on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(90) == 0, "producer could not deliver everything within 90 s"
    produce_s = time.monotonic() - t0
    assert not errors, f"{len(errors)} delivery errors, first: {errors[0]}"
    assert len(acked) == n
    acked.sort(key=lambda a: a[1])
    assert [a[1] for a in acked] == list(range(n)), "acked offsets are not 0..n-1"
    assert [a[0] for a in acked] == list(range(n)), "log order differs from produce order"

    broker.kill()
    broker.start()

    got = consume_all(broker.bootstrap, topic, min_count=n, timeout=90)
    assert len(got) == n, f"{n - len(got)} acknowledged messages lost after kill -9"
    assert [m.offset() for m in got] == list(range(n)), "offsets not contiguous after restart"
    assert [seq_of(m.value()) for m in got] == list(range(n)), "order changed after restart"
    assert all(m.value() == value_for(i) for i, m in enumerate(got))
    assert topic_id(broker.bootstrap, topic) == id_before, "topic id changed across restart"
    print(f"produced {n} acks=all in {produce_s:.1f}s")

    # the restarted log takes new writes at the right offset
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    res = []
    p.produce(topic, value=b"after-restart", on_delivery=lambda e, m: res.append((e, m.offset())))
    assert p.flush(30) == 0
    assert res == [(None, n)]


def test_kill_during_production(broker):
    topic = unique_topic("dur-mid")
    create_topic(broker.bootstrap, topic)
    id_before = topic_id(broker.bootstrap, topic)

    acked: set[int] = set()
    failed: list = []

    def on_delivery(err, msg):
        if err is None:
            acked.add(seq_of(msg.value()))
        else:
            failed.append(err.code())

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 1,
                  "batch.num.messages": 500, "message.timeout.ms": 30_000,
                  "queue.buffering.max.messages": 500_000,
                  "reconnect.backoff.ms": 50, "retries": 0})
    # A separate thread kills the broker shortly after 10,000 acks, while the main thread
    # keeps producing flat out, so the kill lands with batches queued and on the wire.
    kill_after_acks = 10_000
    killed = threading.Event()
    state = {}

    def killer():
        deadline = time.monotonic() + 60
        while len(acked) < kill_after_acks and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.02)
        state["produced_at_kill"] = produced
        state["acked_at_kill"] = len(acked)
        broker.kill()
        killed.set()

    produced = 0
    t = threading.Thread(target=killer, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not killed.is_set():
        for _ in range(500):
            try:
                p.produce(topic, value=value_for(produced), on_delivery=on_delivery)
                produced += 1
            except BufferError:
                break
        p.poll(0)
    t.join(timeout=70)
    assert killed.is_set(), f"only {len(acked)} acks within 60 s; cannot test the kill"
    acked_at_kill = state["acked_at_kill"]
    in_flight_at_kill = state["produced_at_kill"] - acked_at_kill
    # whatever was still queued or on the wire now fails; collect those reports
    p.purge(in_queue=True, in_flight=True)
    p.flush(10)
    assert len(acked) + len(failed) == produced, (len(acked), len(failed), produced)
    assert all(code in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT,
                        KafkaError._TRANSPORT, KafkaError._MSG_TIMED_OUT,
                        KafkaError._ALL_BROKERS_DOWN) for code in failed), set(failed)
    del p

    broker.start()
    got = consume_all(broker.bootstrap, topic, min_count=len(acked), timeout=60)
    seqs = [seq_of(m.value()) for m in got]
    assert [m.offset() for m in got] == list(range(len(got))), "offsets not contiguous"
    missing = acked - set(seqs)
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
    # no retries were allowed, so the log must be exactly a prefix of what was sent
    assert seqs == list(range(len(seqs))), "log is not a prefix of the produced sequence"
    assert topic_id(broker.bootstrap, topic) == id_before
    assert in_flight_at_kill > 0, "nothing was in flight at the kill: the test proved nothing"
    print(f"produced {produced}, acked {len(acked)} ({in_flight_at_kill} unacked at kill), "
          f"{len(got)} in the log after restart")


def test_clean_stop_and_restart_keeps_topics_configs_and_data(broker):
    from confluent_kafka.admin import ConfigResource, ResourceType

    topic = unique_topic("dur-meta")
    create_topic(broker.bootstrap, topic, partitions=3, config={"retention.ms": "7777777"})
    id_before = topic_id(broker.bootstrap, topic)
    msgs = [(f"k{i}".encode(), f"v{i}".encode(), None, i % 3) for i in range(30)]
    from helpers import produce_confluent

    reports = produce_confluent(broker.bootstrap, topic, msgs, {"acks": "all"})
    assert all(r[0] is None for r in reports)

    assert broker.stop() == 0, "weir did not exit 0 on SIGTERM"
    broker.start()
    for restart in ("after SIGTERM", "after SIGKILL"):
        a = admin(broker.bootstrap)
        md = a.list_topics(timeout=10)
        assert topic in md.topics, f"topic gone {restart}"
        assert sorted(md.topics[topic].partitions) == [0, 1, 2], restart
        res = ConfigResource(ResourceType.TOPIC, topic)
        cfg = a.describe_configs([res], request_timeout=10)[res].result(timeout=20)
        assert cfg["retention.ms"].value == "7777777", f"topic config lost {restart}"
        assert topic_id(broker.bootstrap, topic) == id_before, restart
        got = consume_all(broker.bootstrap, topic, partitions=(0, 1, 2), min_count=30)
        assert sorted((m.partition(), m.offset(), m.value()) for m in got) == sorted(
            (i % 3, i // 3, f"v{i}".encode()) for i in range(30)), restart
        broker.kill()
        broker.start()


def test_idempotent_producer_across_broker_restart(broker):
    """An idempotent producer keeps going through a kill -9 and restart of the broker:
    every message is delivered exactly once and in order (the broker must recover producer
    state from its log, or the retries after the restart create duplicates)."""
    topic = unique_topic("dur-idem")
    create_topic(broker.bootstrap, topic)
    reports = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                  "acks": "all", "linger.ms": 2, "message.timeout.ms": 60_000,
                  "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500})

    def cb(err, msg):
        reports.append((err, seq_of(msg.value())))

    n = 40_000
    for i in range(n):
        while True:
            try:
                p.produce(topic, value=value_for(i), on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        if i == n // 2:
            p.poll(0)
            broker.kill()
            time.sleep(0.3)
            broker.start()
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    errs = [r for r in reports if r[0] is not None]
    assert not errs, f"{len(errs)} delivery errors, first: {errs[0][0]}"
    got = consume_all(broker.bootstrap, topic, min_count=n, timeout=60)
    seqs = [seq_of(m.value()) for m in got]
    dups = len(seqs) - len(set(seqs))
    assert dups == 0, f"{dups} duplicates after the restart"
    assert seqs == list(range(n)), "lost or reordered messages"
