"""Acknowledged writes survive `kill -9` of the broker (default flush policy)."""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, Producer, TopicCollection

from helpers import admin, consume_all, create_topic, unique_topic


def topic_id(bootstrap: str, topic: str) -> str:
    desc = admin(bootstrap).describe_topics(TopicCollection([topic]))[topic].result(timeout=20)
    return str(desc.topic_id)


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
    kill_after_acks = 20_000
    produced = 0
    acked_at_kill = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for _ in range(200):
            try:
                p.produce(topic, value=value_for(produced), on_delivery=on_delivery)
                produced += 1
            except BufferError:
                break
        p.poll(0.001)
        if len(acked) >= kill_after_acks:
            acked_at_kill = len(acked)
            broker.kill()
            break
    assert acked_at_kill is not None, f"only {len(acked)} acks within 60 s; cannot test the kill"
    in_flight_at_kill = produced - acked_at_kill
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
    print(f"produced {produced}, acked {len(acked)} ({in_flight_at_kill} unacked at kill), "
          f"{len(got)} in the log after restart")
