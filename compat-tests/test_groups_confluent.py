"""Consumer groups (classic protocol) with confluent-kafka (librdkafka) against weir.

Three group members share a 6-partition topic, one is SIGKILLed and its partitions move to the
others; committed offsets survive a restart of the consumers and of the broker; AdminClient
lists, describes and deletes groups and lists and alters their offsets.

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
    assert moved_at - killed_at <= takeover_limit_s
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
        share_and_take_over(broker.bootstrap, topic, members, SESSION_TIMEOUT_MS / 1000 + 10)
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
        c.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 30
        while got < 10 and time.monotonic() < deadline:
            got += sum(1 for m in c.consume(100, timeout=0.2) if m.error() is None)
        assert got == 10
        c.commit(asynchronous=False)

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
