"""Kafka transactions (KIP-98) with real clients against weir.

confluent-kafka (librdkafka 2.16) transactional producers commit and abort transactions across
partitions; read_committed consumers see exactly the committed messages and stop at the last
stable offset while a transaction is open, read_uncommitted ones see everything; a
consume-transform-produce processor that crashes mid-transaction is replaced by a new instance
with the same transactional.id and the output holds every input exactly once; a second producer
with the same transactional.id fences the first; the broker aborts transactions that outlive
transaction.timeout.ms, also across a kill -9 of the broker; kafka-python's transactional
producer and read_committed consumer interoperate.

Offsets are checked exactly where Kafka defines them: a transaction's commit or abort marker is
one control record that takes one offset in every partition the transaction wrote to, and
consumers never return control records.

The consume-transform-produce processor runs as a subprocess of this very file
(`python test_transactions.py processor ...`) so that it can crash with SIGKILL in the middle of a
transaction, like a real process would. It prints one JSON line per event on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition

from helpers import consumer_conf, create_topic, produce_confluent, unique_topic, wait_until

FENCED_CODES = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)


# ---------------------------------------------------------------------- helpers
def unique_txn_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def txn_producer(bootstrap: str, txn_id: str, **extra) -> Producer:
    """A transactional confluent-kafka producer that has completed init_transactions()."""
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5}
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(30)
    return p


class Deliveries:
    """on_delivery callback that records (err, partition, offset, value)."""

    def __init__(self):
        self.reports = []

    def __call__(self, err, msg):
        self.reports.append((err, msg.partition(), msg.offset(), msg.value()))

    def errors(self):
        return [r for r in self.reports if r[0] is not None]

    def offsets(self) -> dict:
        """value -> (partition, offset) of every successful delivery."""
        return {r[3]: (r[1], r[2]) for r in self.reports if r[0] is None}


def produce_in_txn(p: Producer, topic: str, values, partitions: int, dr: Deliveries):
    """Produces values round-robin over `partitions` partitions (value i -> partition i % n)
    and flushes, so every message is on the broker before the transaction ends."""
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=i % partitions, on_delivery=dr)
    assert p.flush(30) == 0, "transactional messages not delivered within 30 s"
    assert not dr.errors(), f"delivery errors: {dr.errors()[:3]}"


def isolation_conf(bootstrap: str, isolation: str, **extra) -> dict:
    # librdkafka's default is read_committed; always say which one a reader uses
    return consumer_conf(bootstrap, **{"isolation.level": isolation, **extra})


def read_until_eof(bootstrap: str, topic: str, partitions, isolation: str,
                   min_count: int = 0, timeout: float = 30.0):
    """Reads `partitions` from the beginning until every one has reported EOF after at least
    `min_count` messages in total. Returns (messages, {partition: offset of its last EOF}).
    For read_committed, librdkafka reports EOF at the last stable offset."""
    c = Consumer(isolation_conf(bootstrap, isolation))
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        return _drain(c, topic, partitions, min_count, timeout)
    finally:
        c.close()


def _drain(c: Consumer, topic: str, partitions, min_count: int, timeout: float):
    msgs = []
    eof: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in c.consume(num_messages=10000, timeout=0.3):
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    eof[m.partition()] = m.offset()
                    continue
                raise AssertionError(f"consumer error on {topic}: {err}")
            eof.pop(m.partition(), None)
            msgs.append(m)
        if len(msgs) >= min_count and set(eof) >= set(partitions):
            return msgs, eof
    raise AssertionError(
        f"timed out after {timeout}s reading {topic} {list(partitions)}: got {len(msgs)} "
        f"messages (wanted >= {min_count}), EOF seen on {sorted(eof)}"
    )


def high_watermarks(bootstrap: str, topic: str, partitions, isolation: str) -> dict:
    """ListOffsets(latest) as a consumer with `isolation` sees it: the high watermark for
    read_uncommitted, the last stable offset for read_committed."""
    c = Consumer(isolation_conf(bootstrap, isolation))
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in partitions}
    finally:
        c.close()


def values_of(msgs) -> list[bytes]:
    return [m.value() for m in msgs]


def by_partition(msgs) -> dict:
    out: dict[int, list] = {}
    for m in msgs:
        out.setdefault(m.partition(), []).append(m)
    return out


def kafka_failure(fn, *args):
    """Runs fn(*args) and returns the KafkaError it raised, or None if it succeeded. Keeps only
    the error, not the exception, whose traceback would keep the test's producers alive (and
    reconnecting to a dead broker) after the test."""
    try:
        fn(*args)
    except KafkaException as e:
        return e.args[0]
    return None


def fenced_or_fatal(err) -> bool:
    return isinstance(err, KafkaError) and (err.fatal() or err.code() in FENCED_CODES)


# ---------------------------------------------------------------------- commit / abort
def test_commit_and_abort_across_partitions(broker):
    """Six transactions over a 3-partition topic, 10 messages per partition each; #1 and #4
    are aborted. read_committed returns exactly the 120 committed messages, in order per
    partition; read_uncommitted returns all 180; every transaction left one marker per partition
    (data offsets k*11 .. k*11+9, marker at k*11+10, high watermark 66 = LSO); both kinds of
    consumer reach EOF at 66 and delivery reports match where the messages are."""
    topic = unique_topic("txn-mix")
    create_topic(broker.bootstrap, topic, partitions=3)
    p = txn_producer(broker.bootstrap, unique_txn_id("txn-mix"))
    dr = Deliveries()
    plan = ["commit", "abort", "commit", "commit", "abort", "commit"]
    committed, aborted = [], []
    for t, outcome in enumerate(plan):
        values = [f"t{t}-m{i:02d}-{outcome}".encode() for i in range(30)]
        p.begin_transaction()
        produce_in_txn(p, topic, values, 3, dr)
        if outcome == "commit":
            p.commit_transaction(30)
            committed += values
        else:
            p.abort_transaction(30)
            aborted += values

    parts = (0, 1, 2)
    hw = high_watermarks(broker.bootstrap, topic, parts, "read_uncommitted")
    lso = high_watermarks(broker.bootstrap, topic, parts, "read_committed")
    assert hw == {0: 66, 1: 66, 2: 66}, f"high watermarks {hw}: 60 data + 6 markers expected"
    assert lso == hw, f"no transaction is open, so LSO {lso} must equal the high watermark {hw}"

    rc, rc_eof = read_until_eof(broker.bootstrap, topic, parts, "read_committed",
                                min_count=len(committed))
    assert sorted(values_of(rc)) == sorted(committed), (
        f"read_committed got {len(rc)} messages, {len(set(values_of(rc)) & set(aborted))} "
        f"of them aborted; expected the {len(committed)} committed ones")
    assert len(rc) == len(committed), "duplicates in read_committed"
    assert rc_eof == {0: 66, 1: 66, 2: 66}, f"read_committed EOF offsets {rc_eof}"

    ru, ru_eof = read_until_eof(broker.bootstrap, topic, parts, "read_uncommitted",
                                min_count=len(committed) + len(aborted))
    assert sorted(values_of(ru)) == sorted(committed + aborted), \
        f"read_uncommitted got {len(ru)} messages, expected all {len(committed) + len(aborted)}"
    assert ru_eof == {0: 66, 1: 66, 2: 66}, f"read_uncommitted EOF offsets {ru_eof}"

    data_offsets = [k * 11 + j for k in range(6) for j in range(10)]
    committed_offsets = [k * 11 + j for k, o in enumerate(plan) if o == "commit" for j in range(10)]
    ru_parts, rc_parts = by_partition(ru), by_partition(rc)
    for part in parts:
        assert [m.offset() for m in ru_parts[part]] == data_offsets, \
            f"partition {part}: data offsets {[m.offset() for m in ru_parts[part]]}"
        assert [m.offset() for m in rc_parts[part]] == committed_offsets, \
            f"partition {part}: committed offsets {[m.offset() for m in rc_parts[part]]}"
        expected_order = [f"t{t}-m{i:02d}-{o}".encode()
                          for t, o in enumerate(plan) for i in range(30) if i % 3 == part]
        assert values_of(ru_parts[part]) == expected_order, f"partition {part} out of order"
    where = {m.value(): (m.partition(), m.offset()) for m in ru}
    wrong = [(v, at) for v, at in dr.offsets().items() if where.get(v) != at]
    assert not wrong, f"delivery reports disagree with the log: {wrong[:3]}"
    assert len(dr.reports) == 180


def test_open_transaction_blocks_read_committed_at_lso(broker):
    """While a transaction is open, read_committed consumers stop at its first offset (the last
    stable offset), even for later non-transactional messages; read_uncommitted ones read
    everything. ListOffsets(latest) answers the LSO to read_committed and the high watermark to
    read_uncommitted. Once it commits, the same read_committed consumer continues and receives
    the transaction and the messages behind it."""
    topic = unique_topic("txn-lso")
    create_topic(broker.bootstrap, topic, partitions=1)
    p = txn_producer(broker.bootstrap, unique_txn_id("txn-lso"))
    dr = Deliveries()
    first = [f"a-{i}".encode() for i in range(5)]
    p.begin_transaction()
    produce_in_txn(p, topic, first, 1, dr)
    p.commit_transaction(30)                             # offsets 0-4, marker 5
    open_txn = [f"b-{i}".encode() for i in range(10)]
    p.begin_transaction()
    produce_in_txn(p, topic, open_txn, 1, dr)            # offsets 6-15, not committed
    plain = [f"plain-{i}".encode() for i in range(3)]
    reports = produce_confluent(broker.bootstrap, topic, [(None, v) for v in plain])
    assert [r[2] for r in reports] == [16, 17, 18], reports

    assert high_watermarks(broker.bootstrap, topic, (0,), "read_uncommitted") == {0: 19}
    assert high_watermarks(broker.bootstrap, topic, (0,), "read_committed") == {0: 6}, \
        "ListOffsets(latest) for read_committed must give the LSO, the open transaction's start"

    ru, ru_eof = read_until_eof(broker.bootstrap, topic, (0,), "read_uncommitted", min_count=18)
    assert values_of(ru) == first + open_txn + plain
    assert ru_eof == {0: 19}

    rc = Consumer(isolation_conf(broker.bootstrap, "read_committed"))
    try:
        rc.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got, eof = _drain(rc, topic, (0,), 5, 15)
        assert values_of(got) == first, f"read_committed read {values_of(got)}"
        assert eof == {0: 6}, f"read_committed EOF at {eof}, expected the LSO 6"
        # a few seconds more: nothing beyond the LSO may arrive
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for m in rc.consume(num_messages=100, timeout=0.3):
                assert m.error() is not None and m.error().code() == KafkaError._PARTITION_EOF, \
                    f"read_committed got {m.value()!r} at {m.offset()} from an open transaction"

        p.commit_transaction(30)                         # marker at 19
        later, eof = _drain(rc, topic, (0,), len(open_txn) + len(plain), 15)
        assert values_of(later) == open_txn + plain, values_of(later)
        assert [m.offset() for m in later] == list(range(6, 19))
        assert eof == {0: 20}, eof
    finally:
        rc.close()
    assert high_watermarks(broker.bootstrap, topic, (0,), "read_committed") == {0: 20}


# ---------------------------------------------------------------------- consume-transform-produce
def run_processor(bootstrap: str, group: str, txn_id: str, in_topic: str, out_topic: str,
                  partitions: int, total: int, crash_after: int) -> None:
    """Subprocess body: read `in_topic` in group `group` (read_committed, no auto commit), write
    b"out:" + value to `out_topic` (same partition) and commit the consumed offsets in the same
    transaction every 50 messages. With crash_after > 0: after that many messages, flush, send
    the offsets to the open transaction and SIGKILL itself before committing. Exits when the
    group's committed offsets cover all `total` input messages."""

    def emit(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "socket.timeout.ms": 10000,
    })
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5})
    p.init_transactions(60)
    emit({"initialized": True})
    c.subscribe([in_topic])
    all_tps = [TopicPartition(in_topic, i) for i in range(partitions)]
    in_txn = 0
    done = 0

    def send_offsets():
        positions = [tp for tp in c.position(c.assignment()) if tp.offset >= 0]
        p.send_offsets_to_transaction(positions, c.consumer_group_metadata(), 30)
        return {tp.partition: tp.offset for tp in positions}

    def committed_total():
        return sum(max(tp.offset, 0) for tp in c.committed(all_tps, timeout=10))

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        msgs = [m for m in c.consume(num_messages=50, timeout=0.3) if m.error() is None]
        for m in msgs:
            if in_txn == 0:
                p.begin_transaction()
            p.produce(out_topic, key=m.key(), value=b"out:" + m.value(), partition=m.partition())
            in_txn += 1
            done += 1
            if crash_after > 0 and done == crash_after:
                assert p.flush(30) == 0
                offsets = send_offsets()
                emit({"crash": done, "offsets": offsets})
                os.kill(os.getpid(), signal.SIGKILL)
            if in_txn >= 50:
                offsets = send_offsets()
                p.commit_transaction(30)
                in_txn = 0
                emit({"committed": done, "offsets": offsets})
        if not msgs:
            if in_txn > 0 and crash_after <= 0:  # the crashing run commits only every 50
                offsets = send_offsets()
                p.commit_transaction(30)
                in_txn = 0
                emit({"committed": done, "offsets": offsets})
            if committed_total() == total:
                emit({"done": done})
                break
    else:
        emit({"timeout": done})
    c.close()


def start_processor(broker, group, txn_id, in_topic, out_topic, partitions, total, crash_after):
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "processor", broker.bootstrap, group, txn_id,
         in_topic, out_topic, str(partitions), str(total), str(crash_after)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=os.path.dirname(os.path.abspath(__file__)),
    )


def finish(proc, timeout: float):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"processor did not finish within {timeout}s; stdout:\n{out}\n"
                             f"stderr tail:\n{err[-3000:]}")
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return proc.returncode, events, err


def test_consume_transform_produce_survives_crash(make_broker):
    """A transactional processor (read_committed group consumer, offsets committed with
    send_offsets_to_transaction every 50 messages) is SIGKILLed after 130 of 300 messages: two
    transactions committed, the third has written 30 outputs and sent its offsets but not
    committed. A new processor with the same group and transactional.id fences and aborts the
    open transaction (outputs and offsets), resumes at the committed offsets and finishes:
    read_committed sees every input exactly once in the output, read_uncommitted also the 30
    aborted outputs, and the group's committed offsets are at the end of the input."""
    broker = make_broker("--group-initial-rebalance-delay-ms", "0")
    in_topic, out_topic = unique_topic("ctp-in"), unique_topic("ctp-out")
    create_topic(broker.bootstrap, in_topic, partitions=3)
    create_topic(broker.bootstrap, out_topic, partitions=3)
    total = 300
    inputs = [f"in-{i:03d}".encode() for i in range(total)]
    produce_confluent(broker.bootstrap, in_topic,
                      [(None, v, None, i % 3) for i, v in enumerate(inputs)])
    group, txn_id = unique_topic("ctp-group"), unique_txn_id("ctp")

    first = start_processor(broker, group, txn_id, in_topic, out_topic, 3, total, crash_after=130)
    code, events, err = finish(first, 60)
    assert code == -signal.SIGKILL, f"first processor exited with {code}: {events}\n{err[-3000:]}"
    assert [e["committed"] for e in events if "committed" in e] == [50, 100], events
    assert [e["crash"] for e in events if "crash" in e] == [130], events

    second = start_processor(broker, group, txn_id, in_topic, out_topic, 3, total, crash_after=0)
    code, events2, err2 = finish(second, 90)
    assert code == 0, f"second processor exited with {code}: {events2}\n{err2[-3000:]}"
    assert any("done" in e for e in events2), f"second processor did not finish: {events2}"
    redone = [e["done"] for e in events2 if "done" in e][0]
    assert redone == total - 100, (
        f"the second processor processed {redone} messages; it must resume at the 100 committed "
        f"ones (the crashed transaction's offsets were aborted) and do the other {total - 100}")

    expected = sorted(b"out:" + v for v in inputs)
    rc, _ = read_until_eof(broker.bootstrap, out_topic, (0, 1, 2), "read_committed",
                           min_count=total)
    assert len(rc) == total, f"read_committed output has {len(rc)} messages, input has {total}"
    assert sorted(values_of(rc)) == expected, "output is not each input exactly once"
    for m in rc:  # each output in its input's partition
        assert int(m.value()[len(b"out:in-"):]) % 3 == m.partition()

    ru, _ = read_until_eof(broker.bootstrap, out_topic, (0, 1, 2), "read_uncommitted",
                           min_count=total + 30)
    assert len(ru) == total + 30, f"read_uncommitted output has {len(ru)}, expected {total + 30}"

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition(in_topic, i) for i in range(3)], timeout=10)
    finally:
        c.close()
    assert {tp.partition: tp.offset for tp in committed} == {0: 100, 1: 100, 2: 100}


# ---------------------------------------------------------------------- fencing
@pytest.mark.parametrize("next_op", ["commit", "produce"])
def test_second_producer_fences_first(broker, next_op):
    """Two producers with one transactional.id: the second's init_transactions aborts the first
    one's open transaction and fences it. The first one's next commit (or produce, then commit)
    fails with a fatal fenced error, the second commits, and read_committed sees only the
    second's messages."""
    topic = unique_topic("txn-fence")
    create_topic(broker.bootstrap, topic, partitions=2)
    txn_id = unique_txn_id("fence")
    p1 = txn_producer(broker.bootstrap, txn_id)
    dr1 = Deliveries()
    p1.begin_transaction()
    zombie = [f"zombie-{i}".encode() for i in range(6)]
    produce_in_txn(p1, topic, zombie, 2, dr1)

    p2 = txn_producer(broker.bootstrap, txn_id)  # fences p1 and aborts its transaction
    dr2 = Deliveries()
    p2.begin_transaction()
    fresh = [f"fresh-{i}".encode() for i in range(6)]
    produce_in_txn(p2, topic, fresh, 2, dr2)

    if next_op == "produce":
        late = [f"late-{i}".encode() for i in range(4)]

        def produce_late():
            # no delivery callback: confluent-kafka raises the fatal error out of flush(); when
            # that happens inside a Python delivery callback it surfaces as a SystemError and
            # leaks the producers (they outlive the test, reconnecting to its dead broker)
            for i, v in enumerate(late):
                p1.produce(topic, value=v, partition=i % 2)
            p1.flush(15)

        err = kafka_failure(produce_late)
        # the broker rejects the old epoch; whether flush() already reports the fatal error or
        # only the commit below does, it must be the fencing error
        assert err is None or fenced_or_fatal(err), f"produce of the fenced producer: {err}"
    err = kafka_failure(p1.commit_transaction, 15)
    assert err is not None, "the fenced producer committed its transaction"
    assert fenced_or_fatal(err), f"the fenced producer's commit failed, but not as fenced: {err}"

    p2.commit_transaction(30)
    rc, eof = read_until_eof(broker.bootstrap, topic, (0, 1), "read_committed", min_count=6)
    assert sorted(values_of(rc)) == sorted(fresh), values_of(rc)
    ru, _ = read_until_eof(broker.bootstrap, topic, (0, 1), "read_uncommitted", min_count=12)
    assert sorted(values_of(ru)) == sorted(zombie + fresh), "late zombie writes reached the log"
    # p1's txn: 3 records + abort marker per partition; p2's: 3 records + commit marker
    assert eof == {0: 8, 1: 8}, eof


# ---------------------------------------------------------------------- timeout
def test_transaction_timeout_aborts(make_broker):
    """A producer with transaction.timeout.ms=3000 writes 10 messages in a transaction and goes
    silent. read_committed is blocked at offset 0 until the broker aborts the transaction (no
    sooner than 3 s after it began, within 15 s); then it reads none of them and reaches EOF
    past the abort marker. The silent producer can no longer commit; a new producer with the
    same transactional.id initialises and commits."""
    broker = make_broker("--transaction-timeout-check-interval-ms", "500")
    topic = unique_topic("txn-timeout")
    create_topic(broker.bootstrap, topic, partitions=1)
    txn_id = unique_txn_id("timeout")
    p1 = txn_producer(broker.bootstrap, txn_id, **{"transaction.timeout.ms": 3000})
    dr = Deliveries()
    t0 = time.monotonic()
    p1.begin_transaction()
    silent = [f"silent-{i}".encode() for i in range(10)]
    produce_in_txn(p1, topic, silent, 1, dr)
    assert high_watermarks(broker.bootstrap, topic, (0,), "read_committed") == {0: 0}, \
        "the open transaction must hold the LSO at its first offset"

    wait_until(lambda: high_watermarks(broker.bootstrap, topic, (0,), "read_committed") == {0: 11},
               timeout=15, interval=0.2, what="the broker to abort the timed-out transaction")
    elapsed = time.monotonic() - t0
    assert elapsed >= 2.8, f"transaction aborted after {elapsed:.1f}s, before its 3 s timeout"
    print(f"timed-out transaction aborted {elapsed:.1f}s after it began")
    assert high_watermarks(broker.bootstrap, topic, (0,), "read_uncommitted") == {0: 11}
    rc, eof = read_until_eof(broker.bootstrap, topic, (0,), "read_committed")
    assert rc == [] and eof == {0: 11}, (values_of(rc), eof)

    err = kafka_failure(p1.commit_transaction, 15)
    assert err is not None, "the silent producer committed a transaction the broker had aborted"
    assert err.code() != KafkaError._TIMED_OUT, f"commit after the abort got no answer: {err}"
    print(f"commit after the broker's abort: {err}")

    p2 = txn_producer(broker.bootstrap, txn_id, **{"transaction.timeout.ms": 3000})
    p2.begin_transaction()
    after = [f"after-{i}".encode() for i in range(5)]
    produce_in_txn(p2, topic, after, 1, Deliveries())
    p2.commit_transaction(30)
    rc, eof = read_until_eof(broker.bootstrap, topic, (0,), "read_committed", min_count=5)
    assert values_of(rc) == after and [m.offset() for m in rc] == list(range(11, 16))
    assert eof == {0: 17}, eof


# ---------------------------------------------------------------------- broker crash
def test_broker_kill_mid_transaction(make_broker):
    """The broker is SIGKILLed after one committed transaction and while a second (written and
    flushed, over 2 partitions) is open. After the restart the committed one is visible to
    read_committed; the open one is aborted by the transaction timeout (state recovered from
    __transaction_state) and never visible; a new producer with the same transactional.id
    initialises and commits, and read_committed reads the first and the last transaction."""
    broker = make_broker("--transaction-timeout-check-interval-ms", "500")
    topic = unique_topic("txn-kill")
    create_topic(broker.bootstrap, topic, partitions=2)
    txn_id = unique_txn_id("kill")
    p1 = txn_producer(broker.bootstrap, txn_id, **{"transaction.timeout.ms": 5000})
    done = [f"done-{i}".encode() for i in range(10)]
    p1.begin_transaction()
    produce_in_txn(p1, topic, done, 2, Deliveries())
    p1.commit_transaction(30)                       # 5 + marker per partition
    inflight = [f"inflight-{i}".encode() for i in range(10)]
    p1.begin_transaction()
    produce_in_txn(p1, topic, inflight, 2, Deliveries())   # 6..10 per partition
    assert high_watermarks(broker.bootstrap, topic, (0, 1), "read_committed") == {0: 6, 1: 6}

    broker.kill()
    broker.start()

    assert high_watermarks(broker.bootstrap, topic, (0, 1), "read_uncommitted") == {0: 11, 1: 11}
    wait_until(lambda: high_watermarks(broker.bootstrap, topic, (0, 1), "read_committed")
               == {0: 12, 1: 12}, timeout=30, interval=0.3,
               what="the recovered open transaction to be aborted (LSO past its abort marker)")
    rc, eof = read_until_eof(broker.bootstrap, topic, (0, 1), "read_committed", min_count=10)
    assert sorted(values_of(rc)) == sorted(done), values_of(rc)
    assert eof == {0: 12, 1: 12}, eof

    p2 = txn_producer(broker.bootstrap, txn_id, **{"transaction.timeout.ms": 5000})
    after = [f"after-{i}".encode() for i in range(4)]
    p2.begin_transaction()
    produce_in_txn(p2, topic, after, 2, Deliveries())
    p2.commit_transaction(30)
    rc, eof = read_until_eof(broker.bootstrap, topic, (0, 1), "read_committed", min_count=14)
    assert sorted(values_of(rc)) == sorted(done + after), values_of(rc)
    assert eof == {0: 15, 1: 15}, eof
    del p1  # kept alive (idle) until here so that nothing but the broker ends its transaction


def test_committed_transaction_survives_broker_kill(make_broker):
    """Committed transactions, their markers and an aborted one survive kill -9: after the
    restart read_committed still filters out the aborted messages (the aborted-transaction index
    is recovered) and the same transactional producer id continues (a new instance inits)."""
    broker = make_broker()
    topic = unique_topic("txn-kill2")
    create_topic(broker.bootstrap, topic, partitions=1)
    txn_id = unique_txn_id("kill2")
    p = txn_producer(broker.bootstrap, txn_id)
    kept = []
    for t in range(4):
        values = [f"t{t}-{i}".encode() for i in range(5)]
        p.begin_transaction()
        produce_in_txn(p, topic, values, 1, Deliveries())
        if t % 2 == 0:
            p.commit_transaction(30)
            kept += values
        else:
            p.abort_transaction(30)
    del p
    broker.kill()
    broker.start()
    rc, eof = read_until_eof(broker.bootstrap, topic, (0,), "read_committed", min_count=10)
    assert values_of(rc) == kept, values_of(rc)
    assert eof == {0: 24}
    ru, _ = read_until_eof(broker.bootstrap, topic, (0,), "read_uncommitted", min_count=20)
    assert len(ru) == 20
    p = txn_producer(broker.bootstrap, txn_id)
    p.begin_transaction()
    produce_in_txn(p, topic, [b"after"], 1, Deliveries())
    p.commit_transaction(30)
    rc, eof = read_until_eof(broker.bootstrap, topic, (0,), "read_committed", min_count=11)
    assert values_of(rc) == kept + [b"after"] and eof == {0: 26}


# ---------------------------------------------------------------------- kafka-python
def test_kafka_python_transactions(broker):
    """kafka-python's transactional producer (init/begin/commit/abort) over 2 partitions, read
    back by kafka-python's read_committed consumer and by librdkafka in both isolation levels."""
    topic = unique_topic("kp-txn")
    create_topic(broker.bootstrap, topic, partitions=2)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=unique_txn_id("kp"),
                      linger_ms=5, request_timeout_ms=20000, max_block_ms=30000)
    committed, aborted = [], []
    try:
        p.init_transactions()
        for t, outcome in enumerate(["commit", "abort", "commit"]):
            values = [f"kp-t{t}-{i}-{outcome}".encode() for i in range(20)]
            p.begin_transaction()
            futures = [p.send(topic, value=v, partition=i % 2) for i, v in enumerate(values)]
            p.flush(timeout=30)
            for f in futures:
                f.get(timeout=30)
            if outcome == "commit":
                p.commit_transaction()
                committed += values
            else:
                p.abort_transaction()
                aborted += values
    finally:
        p.close(timeout=10)

    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      isolation_level="read_committed", request_timeout_ms=20000)
    try:
        tps = [KpTopicPartition(topic, 0), KpTopicPartition(topic, 1)]
        c.assign(tps)
        c.seek_to_beginning()
        records = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for _tp, recs in c.poll(timeout_ms=300).items():
                records.extend(recs)
            if len(records) >= len(committed) and all(c.position(tp) == 33 for tp in tps):
                break
        # nothing else may arrive
        for _ in range(3):
            for _tp, recs in c.poll(timeout_ms=300).items():
                records.extend(recs)
        assert sorted(r.value for r in records) == sorted(committed), \
            f"kafka-python read_committed got {len(records)} records"
        assert {tp.partition: c.position(tp) for tp in tps} == {0: 33, 1: 33}
        assert c.end_offsets(tps) == {tps[0]: 33, tps[1]: 33}
    finally:
        c.close()

    rc, eof = read_until_eof(broker.bootstrap, topic, (0, 1), "read_committed", min_count=40)
    assert sorted(values_of(rc)) == sorted(committed) and eof == {0: 33, 1: 33}
    ru, _ = read_until_eof(broker.bootstrap, topic, (0, 1), "read_uncommitted", min_count=60)
    assert sorted(values_of(ru)) == sorted(committed + aborted)


if __name__ == "__main__":
    if len(sys.argv) == 10 and sys.argv[1] == "processor":
        a = sys.argv[2:]
        run_processor(a[0], a[1], a[2], a[3], a[4], int(a[5]), int(a[6]), int(a[7]))
    else:
        sys.exit(f"usage: {sys.argv[0]} processor BOOTSTRAP GROUP TXN_ID IN_TOPIC OUT_TOPIC "
                 "PARTITIONS TOTAL CRASH_AFTER")
