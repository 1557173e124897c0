"""Consumer groups (classic protocol) with confluent-kafka (librdkafka) against weir.

Three group members share a 6-partition topic, one is SIGKILLed and its partitions move to the
others; committed offsets survive a restart of the consumers and of the broker, also when a
whole group of three consumers and the broker restart together; AdminClient lists, describes and
deletes groups and lists and alters their offsets; kafka-python deletes group offsets
(OffsetDelete, which confluent-kafka's AdminClient lacks).

The group members run as subprocesses of this very file (`python test_groups_confluent.py
member ...`) so that one can be SIGKILLed like a crashed process. Each prints one JSON line per
event on stdout: its assignment whenever it changes, and every message it consumed.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from confluent_kafka import Consumer, KafkaError, TopicPartition

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_MS = 500


# ---------------------------------------------------------------------- member subprocess
def run_member(bootstrap: str, group: str, topic: str, strategy: str) -> None:
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": f"member-{os.getpid()}",
        "partition.assignment.strategy": strategy,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_MS,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "socket.timeout.ms": 10000,
    })
    c.subscribe([topic])
    last = None

    def emit(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    deadline = time.monotonic() + 170
    try:
        while time.monotonic() < deadline:
            msgs = c.consume(num_messages=100, timeout=0.2)
            got = []
            for m in msgs:
                if m.error() is not None:
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        emit({"error": str(m.error())})
                    continue
                got.append([m.partition(), m.offset(), m.value().decode()])
            if got:
                c.commit(asynchronous=False)
                for g in got:
                    emit({"msg": g})
            now = sorted(tp.partition for tp in c.assignment())
            if now != last:
                last = now
                emit({"assignment": now})
    finally:
        c.close()


class Member:
    """One group member subprocess and the events it reported."""

    def __init__(self, bootstrap: str, group: str, topic: str, strategy: str):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "member", bootstrap, group, topic, strategy],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.events: queue.Queue = queue.Queue()
        self.assignment: list[int] | None = None
        self.messages: list[tuple[int, int, str]] = []
        self.errors: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                pass

    def drain(self):
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                return
            if "assignment" in ev:
                self.assignment = ev["assignment"]
            elif "msg" in ev:
                self.messages.append(tuple(ev["msg"]))
            elif "error" in ev:
                self.errors.append(ev["error"])

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def wait_for(members, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            m.drain()
        if predicate():
            return time.monotonic()
        time.sleep(0.1)
    state = [(m.proc.pid, m.assignment, len(m.messages), m.errors[:3]) for m in members]
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; members: {state}")


def owns_each_partition_once(members, partitions):
    owned = [p for m in members for p in (m.assignment or [])]
    return sorted(owned) == list(partitions)


def share_and_take_over(bootstrap, topic, members, takeover_limit_s):
    """The shared scenario of both group protocols: three members on a 6-partition topic own
    two partitions each and consume only what they own; after one is SIGKILLed the survivors
    own all six within `takeover_limit_s` and consume new messages without errors."""
    from helpers import produce_confluent

    wait_for(members, lambda: owns_each_partition_once(members, range(6))
             and all(len(m.assignment or []) == 2 for m in members),
             60, "3 members owning 2 partitions each")

    n = 60
    produce_confluent(bootstrap, topic, [(b"k", f"a{i}".encode(), None, i % 6) for i in range(n)])
    wait_for(members, lambda: sum(len(m.messages) for m in members) >= n, 30,
             "the first 60 messages")
    for m in members:
        assert {p for p, _, _ in m.messages} <= set(m.assignment), "consumed unowned data"

    victim, survivors = members[0], members[1:]
    orphaned = set(victim.assignment)
    victim.kill()
    killed_at = time.monotonic()
    moved_at = wait_for(survivors, lambda: owns_each_partition_once(survivors, range(6)),
                        takeover_limit_s + 5, "survivors to own all 6 partitions")
    print(f"takeover took {moved_at - killed_at:.2f}s (limit {takeover_limit_s}s)")
    assert moved_at - killed_at <= takeover_limit_s, \
        f"takeover took {moved_at - killed_at:.2f}s, more than {takeover_limit_s}s"
    assert orphaned <= {p for m in survivors for p in m.assignment}

    produce_confluent(bootstrap, topic, [(b"k", f"b{i}".encode(), None, i % 6) for i in range(n)])
    wait_for(survivors, lambda: {v for m in survivors for _, _, v in m.messages}
             >= {f"b{i}" for i in range(n)}, 30, "the second 60 messages")
    for m in survivors:
        assert not m.errors, m.errors


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_three_members_share_partitions_and_take_over_from_a_killed_one(broker, strategy):
    from helpers import create_topic, unique_topic

    topic = unique_topic(f"grp-{strategy}")
    group = unique_topic("g3")
    create_topic(broker.bootstrap, topic, partitions=6)
    members = [Member(broker.bootstrap, group, topic, strategy) for _ in range(3)]
    try:
        share_and_take_over(broker.bootstrap, topic, members, SESSION_TIMEOUT_MS / 1000 + 5)
    finally:
        for m in members:
            m.stop()


def consume_group(bootstrap, group, topic, want, timeout=40.0, **extra):
    """Joins `group`, consumes until `want` messages arrived (then a short quiet period to
    catch re-deliveries), commits synchronously and leaves. Returns (partition, offset, value)."""
    c = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "session.timeout.ms": SESSION_TIMEOUT_MS,
        "socket.timeout.ms": 10000, **extra,
    })
    got = []
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + timeout
        quiet_until = None
        while time.monotonic() < deadline:
            for m in c.consume(num_messages=500, timeout=0.2):
                if m.error() is None:
                    got.append((m.partition(), m.offset(), m.value().decode()))
                elif m.error().code() != KafkaError._PARTITION_EOF:
                    raise AssertionError(f"consumer error: {m.error()}")
            if len(got) >= want and quiet_until is None:
                quiet_until = time.monotonic() + 1.5
            if quiet_until is not None and time.monotonic() >= quiet_until:
                break
        assert len(got) >= want, f"got {len(got)} of {want} messages within {timeout}s"
        if got:
            c.commit(asynchronous=False)
    finally:
        c.close()
    return got


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_committed_offsets_survive_consumer_and_broker_restarts(broker, how):
    from helpers import create_topic, produce_confluent, unique_topic

    topic = unique_topic("grp-restart")
    group = unique_topic("g-restart")
    create_topic(broker.bootstrap, topic, partitions=3)
    produce_confluent(broker.bootstrap, topic, [(None, f"a{i}".encode(), None, i % 3)
                                                 for i in range(30)])
    first = consume_group(broker.bootstrap, group, topic, 30)
    assert sorted(v for _, _, v in first) == sorted(f"a{i}" for i in range(30))

    # A consumer restart: nothing is delivered again.
    produce_confluent(broker.bootstrap, topic, [(None, f"b{i}".encode(), None, i % 3)
                                                 for i in range(9)])
    second = consume_group(broker.bootstrap, group, topic, 9)
    assert sorted(v for _, _, v in second) == sorted(f"b{i}" for i in range(9))

    # A broker restart: the committed offsets come back from __consumer_offsets.
    if how == "sigterm":
        assert broker.stop() == 0
    else:
        broker.kill()
    broker.start()
    produce_confluent(broker.bootstrap, topic, [(None, f"c{i}".encode(), None, i % 3)
                                                 for i in range(12)])
    third = consume_group(broker.bootstrap, group, topic, 12)
    assert sorted(v for _, _, v in third) == sorted(f"c{i}" for i in range(12)), \
        "after the broker restart the group must resume from its committed offsets"


# ---------------------------------------------------------------------- a whole group restarts
class GroupOfThree:
    """Three consumers of one group, polled in turn from this thread. After each batch a consumer
    commits, synchronously and with explicit offsets, the position after the last message it
    processed of every partition it still owns; a commit that fails (e.g. during a rebalance) is
    retried on its next turn, and one of a partition revoked meanwhile is dropped (the new owner
    resumes from the last commit)."""

    def __init__(self, conf: dict, topic: str, members: int = 3):
        self.topic = topic
        self.consumers = []
        for i in range(members):
            c = Consumer({**conf, "client.id": f"whole-group-{i}"})
            c.subscribe([topic])
            self.consumers.append(c)
        self.got = [[] for _ in range(members)]  # per consumer: (partition, offset, value)
        self.pending = [{} for _ in range(members)]  # per consumer: partition -> offset
        self.commit_errors: list[str] = []

    def assignments(self):
        return [sorted(tp.partition for tp in c.assignment()) for c in self.consumers]

    def seen(self):
        return {(p, o) for got in self.got for p, o, _ in got}

    def poll(self):
        for i, c in enumerate(self.consumers):
            for m in c.consume(num_messages=200, timeout=0.05):
                if m.error() is not None:
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        raise AssertionError(f"consumer {i}: {m.error()}")
                    continue
                self.got[i].append((m.partition(), m.offset(), m.value().decode()))
                self.pending[i][m.partition()] = m.offset() + 1
            self._commit(i)

    def _commit(self, i):
        from confluent_kafka import KafkaException

        pending = self.pending[i]
        owned = {tp.partition for tp in self.consumers[i].assignment()}
        for p in [p for p in pending if p not in owned]:
            del pending[p]
        if not pending:
            return
        offsets = [TopicPartition(self.topic, p, o) for p, o in sorted(pending.items())]
        try:
            done = self.consumers[i].commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            self.commit_errors.append(str(e))
            return
        for tp in done:
            if tp.error is not None:
                self.commit_errors.append(str(tp.error))
            elif pending.get(tp.partition) == tp.offset:
                del pending[tp.partition]

    def poll_until(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if predicate():
                return
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}; assignments {self.assignments()}, "
            f"consumed {[len(g) for g in self.got]}, commit errors {self.commit_errors[:3]}")

    def shares_six_partitions(self):
        a = self.assignments()
        return sorted(p for ps in a for p in ps) == list(range(6)) and all(len(ps) == 2 for ps in a)

    def close(self):
        for c in self.consumers:
            c.close()


def whole_group_restart(broker, make_conf, how: str, assignor: str, contiguous: bool,
                        n: int = 600, m: int = 300):
    """The shared scenario of both group protocols: three consumers of one group share a
    6-partition topic, consume all `n` keyed messages and commit them; all three close; the
    broker is SIGKILLed or SIGTERMed and restarted; `m` more messages are produced; three fresh
    consumers of the group receive exactly those `m` (compared as (partition, offset) sets:
    nothing of the first `n` again, nothing of the `m` lost). `make_conf(group)` gives the
    consumer config; `assignor` is the name the group must describe; with `contiguous`, each
    member owns two adjacent partitions (a range assignor)."""
    from helpers import admin, create_topic, produce_confluent, unique_topic
    from confluent_kafka import ConsumerGroupTopicPartitions

    topic = unique_topic("grp-whole")
    group = unique_topic("g-whole")
    create_topic(broker.bootstrap, topic, partitions=6)
    a = admin(broker.bootstrap)
    started = time.monotonic()

    first = GroupOfThree(make_conf(group), topic)
    try:
        first.poll_until(first.shares_six_partitions, 60, "3 members owning 2 partitions each")
        owned = first.assignments()
        if contiguous:
            assert all(ps[1] == ps[0] + 1 for ps in owned), owned
        desc = a.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=20)
        assert desc.partition_assignor == assignor, desc.partition_assignor
        assert len(desc.members) == 3

        reports = produce_confluent(
            broker.bootstrap, topic,
            [(f"key-{i}".encode(), f"a{i}".encode()) for i in range(n)], conf={"acks": "all"})
        assert all(r[0] is None for r in reports), [r[0] for r in reports if r[0] is not None][:3]
        produced = {(p, o) for _, p, o, _, _ in reports}
        ends = {p: max(o for q, o in produced if q == p) + 1 for p, _ in produced}
        assert sorted(ends) == list(range(6)), f"keys did not spread over all partitions: {ends}"

        def all_processed_and_committed():
            if not first.seen() >= produced or any(first.pending):
                return False
            committed = first.consumers[0].committed(
                [TopicPartition(topic, p) for p in range(6)], timeout=10)
            return {tp.partition: tp.offset for tp in committed} == ends

        first.poll_until(all_processed_and_committed, 60,
                         f"all {n} messages to be processed and committed")
        assert first.assignments() == owned, "the group rebalanced while consuming"
        for ps, got in zip(owned, first.got):
            assert got and {p for p, _, _ in got} <= set(ps), (ps, sorted({p for p, _, _ in got}))
        print(f"first generation: consumed {[len(g) for g in first.got]}, "
              f"{len(first.commit_errors)} commit errors {first.commit_errors[:2]}")
    finally:
        first.close()

    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(6)])]
    res = a.list_consumer_group_offsets(req, request_timeout=10)[group].result(timeout=20)
    assert {tp.partition: tp.offset for tp in res.topic_partitions} == ends

    # The produce above was acknowledged with acks=all and every commit synchronously: that is
    # the point after which nothing may be lost, whichever way the broker goes down.
    if how == "sigterm":
        assert broker.stop() == 0
    else:
        broker.kill()
    broker.start()

    reports = produce_confluent(broker.bootstrap, topic,
                                [(f"key-{i}".encode(), f"b{i}".encode()) for i in range(m)],
                                conf={"acks": "all"})
    assert all(r[0] is None for r in reports), [r[0] for r in reports if r[0] is not None][:3]
    new = {(p, o) for _, p, o, _, _ in reports}
    assert all(o >= ends[p] for p, o in new)

    second = GroupOfThree(make_conf(group), topic)
    try:
        second.poll_until(lambda: second.seen() >= new, 60, f"the {m} new messages")
        quiet_until = time.monotonic() + 2.0  # anything re-delivered would show up by now
        while time.monotonic() < quiet_until:
            second.poll()
        seen = second.seen()
        again = sorted(seen & produced)
        assert not again, f"{len(again)} of the first {n} messages were delivered again: {again[:5]}"
        assert seen == new, f"unexpected: {sorted(seen - new)[:5]}, missing: {sorted(new - seen)[:5]}"
        values = sorted(v for got in second.got for _, _, v in got)
        duplicates = len(values) - len(set(values))
        assert set(values) == {f"b{i}" for i in range(m)}
        print(f"after the restart: consumed {[len(g) for g in second.got]} ({duplicates} "
              f"duplicates), scenario took {time.monotonic() - started:.1f}s")
    finally:
        second.close()


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_whole_group_resumes_after_consumers_and_broker_restart(make_broker, strategy, how):
    """Three consumers (classic protocol) commit what they processed and close, the broker
    restarts, three fresh consumers get exactly the messages produced since."""
    broker = make_broker("--group-initial-rebalance-delay-ms", "1000")

    def make_conf(group):
        return {"bootstrap.servers": broker.bootstrap, "group.id": group,
                "partition.assignment.strategy": strategy,
                "session.timeout.ms": SESSION_TIMEOUT_MS, "heartbeat.interval.ms": HEARTBEAT_MS,
                "auto.offset.reset": "earliest", "enable.auto.commit": False,
                "socket.timeout.ms": 10000}

    whole_group_restart(broker, make_conf, how, assignor=strategy,
                        contiguous=strategy == "range")


def subscribe_read_and_commit(c, topic, n):
    """Subscribes `c` to `topic`, reads its `n` messages (bounded wait) and commits them."""
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 30
    while got < n and time.monotonic() < deadline:
        got += sum(1 for m in c.consume(100, timeout=0.2) if m.error() is None)
    assert got == n, f"read {got} of {n} messages of {topic}"
    c.commit(asynchronous=False)


def test_admin_lists_describes_and_deletes_groups_and_offsets(broker):
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
    from helpers import admin, create_topic, produce_confluent, unique_topic

    topic = unique_topic("grp-admin")
    group = unique_topic("g-admin")
    create_topic(broker.bootstrap, topic, partitions=2)
    produce_confluent(broker.bootstrap, topic, [(None, f"v{i}".encode(), None, i % 2)
                                                 for i in range(10)])
    a = admin(broker.bootstrap)

    # A live member: the group is Stable and cannot be deleted.
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "client.id": "admin-test-member", "session.timeout.ms": SESSION_TIMEOUT_MS})
    try:
        subscribe_read_and_commit(c, topic, 10)

        listed = a.list_consumer_groups(request_timeout=10).result(timeout=20)
        mine = [g for g in listed.valid if g.group_id == group]
        assert len(mine) == 1, listed.valid
        assert str(mine[0].state).endswith("STABLE"), mine[0].state
        assert not mine[0].is_simple_consumer_group

        desc = a.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=20)
        assert str(desc.state).endswith("STABLE")
        assert desc.partition_assignor == "range"
        (member,) = desc.members
        assert member.client_id == "admin-test-member"
        assert member.host == "/127.0.0.1"
        assert sorted(tp.partition for tp in member.assignment.topic_partitions) == [0, 1]

        with pytest.raises(KafkaException) as ei:
            a.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=20)
        assert ei.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    finally:
        c.close()

    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0), TopicPartition(topic, 1)])]
    res = a.list_consumer_group_offsets(req, request_timeout=10)[group].result(timeout=20)
    assert sorted((tp.partition, tp.offset) for tp in res.topic_partitions) == [(0, 5), (1, 5)]

    alter = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 2),
                                                  TopicPartition(topic, 1, 4)])]
    res = a.alter_consumer_group_offsets(alter, request_timeout=10)[group].result(timeout=20)
    assert all(tp.error is None for tp in res.topic_partitions), res.topic_partitions
    res = a.list_consumer_group_offsets(req, request_timeout=10)[group].result(timeout=20)
    assert sorted((tp.partition, tp.offset) for tp in res.topic_partitions) == [(0, 2), (1, 4)]

    # A new member resumes from the altered offsets.
    again = consume_group(broker.bootstrap, group, topic, 4)
    assert sorted(o for _, o, _ in again) == [2, 3, 4, 4]

    listed = a.list_consumer_groups(request_timeout=10).result(timeout=20)
    mine = [g for g in listed.valid if g.group_id == group]
    assert str(mine[0].state).endswith("EMPTY"), mine[0].state

    a.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=20)
    listed = a.list_consumer_groups(request_timeout=10).result(timeout=20)
    assert group not in [g.group_id for g in listed.valid]
    res = a.list_consumer_group_offsets(req, request_timeout=10)[group].result(timeout=20)
    assert [tp.offset for tp in res.topic_partitions] == [-1001, -1001], "offsets gone with the group"
    with pytest.raises(KafkaException) as ei:
        a.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=20)
    assert ei.value.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND


def test_admin_deletes_group_offsets(make_broker):
    """OffsetDelete (KIP-496). confluent-kafka's AdminClient has no call for it (librdkafka's
    DeleteConsumerGroupOffsets is not exposed in Python), so kafka-python's
    KafkaAdminClient.delete_group_offsets deletes; confluent-kafka reads back. A live member's
    topic is refused per partition with GROUP_SUBSCRIBED_TO_TOPIC, other topics' offsets go; once
    the group is empty the rest go too, and a new member starts over from auto.offset.reset."""
    from kafka import KafkaAdminClient
    from helpers import admin, create_topic, produce_confluent, unique_topic

    broker = make_broker("--group-initial-rebalance-delay-ms", "0")
    subscribed = unique_topic("grp-offdel-sub")
    other = unique_topic("grp-offdel-other")
    group = unique_topic("g-offdel")
    create_topic(broker.bootstrap, subscribed, partitions=2)
    create_topic(broker.bootstrap, other, partitions=1)
    produce_confluent(broker.bootstrap, subscribed, [(None, f"v{i}".encode(), None, i % 2)
                                                      for i in range(10)])
    a = admin(broker.bootstrap)
    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=20000)
    try:
        delete_group_offsets_scenario(broker, a, kp, group, subscribed, other)
    finally:
        kp.close()


def delete_group_offsets_scenario(broker, a, kp, group, subscribed, other):
    from confluent_kafka import ConsumerGroupTopicPartitions
    from kafka import TopicPartition as KpTopicPartition
    from kafka import errors as kerrors
    from helpers import unique_topic

    every = [TopicPartition(subscribed, 0), TopicPartition(subscribed, 1), TopicPartition(other, 0)]

    def committed():
        req = [ConsumerGroupTopicPartitions(group, every)]
        res = a.list_consumer_group_offsets(req, request_timeout=10)[group].result(timeout=20)
        return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions}

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "session.timeout.ms": SESSION_TIMEOUT_MS})
    try:
        subscribe_read_and_commit(c, subscribed, 10)
        c.commit(offsets=[TopicPartition(other, 0, 3)], asynchronous=False)
        assert committed() == {(subscribed, 0): 5, (subscribed, 1): 5, (other, 0): 3}

        res = kp.delete_group_offsets(group, [KpTopicPartition(t.topic, t.partition) for t in every])
        assert res == {
            KpTopicPartition(subscribed, 0): kerrors.GroupSubscribedToTopicError,
            KpTopicPartition(subscribed, 1): kerrors.GroupSubscribedToTopicError,
            KpTopicPartition(other, 0): kerrors.NoError,
        }, res
        assert committed() == {(subscribed, 0): 5, (subscribed, 1): 5, (other, 0): -1001}
    finally:
        c.close()

    res = kp.delete_group_offsets(group, [KpTopicPartition(subscribed, 0)])
    assert res == {KpTopicPartition(subscribed, 0): kerrors.NoError}, res
    assert committed() == {(subscribed, 0): -1001, (subscribed, 1): 5, (other, 0): -1001}
    # A new member: partition 0 from the start again, nothing of partition 1.
    again = consume_group(broker.bootstrap, group, subscribed, 5)
    assert sorted((p, o) for p, o, _ in again) == [(0, o) for o in range(5)]

    with pytest.raises(kerrors.GroupIdNotFoundError):
        kp.delete_group_offsets(unique_topic("g-none"), [KpTopicPartition(subscribed, 0)])


def test_static_member_returns_to_its_place_and_a_duplicate_is_fenced(broker):
    """KIP-345: a member with group.instance.id does not leave on close; a restart within the
    session timeout takes over its place, and resumes from the committed offsets; a second
    live process with the same instance id fences the first."""
    from helpers import admin, create_topic, produce_confluent, unique_topic

    topic = unique_topic("grp-static")
    group = unique_topic("g-static")
    create_topic(broker.bootstrap, topic, partitions=2)
    produce_confluent(broker.bootstrap, topic, [(None, f"a{i}".encode(), None, i % 2)
                                                 for i in range(10)])
    static = {"group.instance.id": "instance-1", "client.id": "static-member"}
    first = consume_group(broker.bootstrap, group, topic, 10, **static)
    assert len(first) == 10

    a = admin(broker.bootstrap)
    desc = a.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=20)
    (member,) = desc.members
    assert member.group_instance_id == "instance-1", "a closed static member stays in the group"

    produce_confluent(broker.bootstrap, topic, [(None, f"b{i}".encode(), None, i % 2)
                                                 for i in range(6)])
    again = consume_group(broker.bootstrap, group, topic, 6, **static)
    assert sorted(v for _, _, v in again) == sorted(f"b{i}" for i in range(6))

    # Two live processes with one instance id: the older one is fenced (a fatal error, which
    # confluent-kafka delivers as a message with code _FATAL) and the newer one takes over.
    errors = {"old": [], "new": []}

    def conf(name):
        return {"bootstrap.servers": broker.bootstrap, "group.id": group,
                "auto.offset.reset": "earliest", "enable.auto.commit": False,
                "session.timeout.ms": SESSION_TIMEOUT_MS, "heartbeat.interval.ms": HEARTBEAT_MS,
                "error_cb": errors[name].append, **static}

    def fatal(name, consumer):
        m = consumer.poll(0.1)
        if m is not None and m.error() is not None:
            errors[name].append(m.error())
        return next((e for e in errors[name]
                     if e.fatal() or e.code() == KafkaError._FATAL), None)

    old = Consumer(conf("old"))
    new = None
    try:
        old.subscribe([topic])
        deadline = time.monotonic() + 30
        while not old.assignment() and time.monotonic() < deadline:
            old.poll(0.2)
        assert old.assignment(), "the static member was not assigned"
        new = Consumer(conf("new"))
        new.subscribe([topic])
        fenced = None
        deadline = time.monotonic() + 30
        while fenced is None and time.monotonic() < deadline:
            fenced = fatal("old", old)
            new.poll(0.1)
        assert fenced is not None, f"the older instance was not fenced; errors: {errors}"
        assert "fenced" in str(fenced).lower(), fenced
        deadline = time.monotonic() + 30
        while len(new.assignment()) < 2 and time.monotonic() < deadline:
            new.poll(0.1)
        assert len(new.assignment()) == 2, "the newer instance must own every partition"
        assert not any(e.fatal() or e.code() == KafkaError._FATAL for e in errors["new"]), errors
    finally:
        old.close()
        if new is not None:
            new.close()


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "member":
    run_member(*sys.argv[2:])
