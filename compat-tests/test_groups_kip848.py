"""Consumer groups with the KIP-848 consumer protocol (`group.protocol=consumer`), with
confluent-kafka (librdkafka) against weir.

Three members share a 6-partition topic with server-side assignment; one is SIGKILLed and its
partitions move to the others once its session (the broker's
`--group-consumer-session-timeout-ms`) expires; committed offsets survive a restart of the
consumers and of the broker, also of a whole group of three (uniform and range assignors);
AdminClient lists groups filtered by type and state, and describes an unknown group. Members run as subprocesses of this file, reporting JSON lines like
those of test_groups_confluent.py, whose helpers are reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from confluent_kafka import Consumer, KafkaError

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_MS = 500
BROKER_ARGS = (f"--group-consumer-session-timeout-ms={SESSION_TIMEOUT_MS}",
               f"--group-consumer-heartbeat-interval-ms={HEARTBEAT_MS}")


def conf(bootstrap: str, group: str, **extra) -> dict:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "socket.timeout.ms": 10000,
        **extra,
    }


# ---------------------------------------------------------------------- member subprocess
def run_member(bootstrap: str, group: str, topic: str) -> None:
    c = Consumer(conf(bootstrap, group, **{"client.id": f"member-{os.getpid()}"}))
    c.subscribe([topic])
    last = None

    def emit(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    deadline = time.monotonic() + 170
    try:
        while time.monotonic() < deadline:
            got = []
            for m in c.consume(num_messages=100, timeout=0.2):
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


def make_member(bootstrap, group, topic):
    from test_groups_confluent import Member

    m = Member.__new__(Member)
    m.proc = subprocess.Popen(
        [sys.executable, __file__, "member", bootstrap, group, topic],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    import queue
    import threading
    m.events = queue.Queue()
    m.assignment = None
    m.messages = []
    m.errors = []
    m._reader = threading.Thread(target=m._read, daemon=True)
    m._reader.start()
    return m


# ---------------------------------------------------------------------- tests
def test_three_members_share_partitions_and_take_over_from_a_killed_one(make_broker):
    from helpers import create_topic, unique_topic
    from test_groups_confluent import share_and_take_over

    broker = make_broker(*BROKER_ARGS)
    topic = unique_topic("kip848")
    group = unique_topic("g848")
    create_topic(broker.bootstrap, topic, partitions=6)
    members = [make_member(broker.bootstrap, group, topic) for _ in range(3)]
    try:
        share_and_take_over(broker.bootstrap, topic, members, SESSION_TIMEOUT_MS / 1000 + 5)
    finally:
        for m in members:
            m.stop()


def test_described_and_listed_as_a_consumer_group(make_broker):
    from helpers import admin, create_topic, unique_topic

    broker = make_broker(*BROKER_ARGS)
    topic = unique_topic("kip848-admin")
    group = unique_topic("g848-admin")
    create_topic(broker.bootstrap, topic, partitions=3)
    c = Consumer(conf(broker.bootstrap, group, **{"client.id": "kip848-member"}))
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(c.assignment()) < 3 and time.monotonic() < deadline:
            c.poll(0.2)
        assert len(c.assignment()) == 3
        a = admin(broker.bootstrap)
        listed = a.list_consumer_groups(request_timeout=10).result(timeout=20)
        mine = [g for g in listed.valid if g.group_id == group]
        assert len(mine) == 1, listed.valid
        assert str(mine[0].type).endswith("CONSUMER"), mine[0].type
        desc = a.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=20)
        (member,) = desc.members
        assert member.client_id == "kip848-member"
        assert sorted(tp.partition for tp in member.assignment.topic_partitions) == [0, 1, 2]
    finally:
        c.close()


def test_admin_lists_groups_filtered_by_type_and_state(make_broker):
    """ListGroups v5 filters: one live and one empty group of each protocol, listed by type
    (ConsumerGroupType CLASSIC / CONSUMER), by state (STABLE / EMPTY), and by both."""
    from confluent_kafka import ConsumerGroupState as State
    from confluent_kafka import ConsumerGroupType as Type
    from helpers import admin, create_topic, produce_confluent, unique_topic
    import test_groups_confluent as classic

    broker = make_broker(*BROKER_ARGS, "--group-initial-rebalance-delay-ms", "0")
    topic = unique_topic("kip848-list")
    create_topic(broker.bootstrap, topic, partitions=2)
    produce_confluent(broker.bootstrap, topic, [(None, f"v{i}".encode(), None, i % 2)
                                                 for i in range(4)])
    groups = {(t, s): unique_topic(f"g-{t.name.lower()}-{s.name.lower()}")
              for t in (Type.CLASSIC, Type.CONSUMER) for s in (State.STABLE, State.EMPTY)}
    # The empty ones: a member consumed, committed and left.
    assert len(classic.consume_group(broker.bootstrap, groups[Type.CLASSIC, State.EMPTY],
                                     topic, 4)) == 4
    assert len(consume_group(broker.bootstrap, groups[Type.CONSUMER, State.EMPTY], topic, 4)) == 4
    live = [
        Consumer({"bootstrap.servers": broker.bootstrap, "group.id": groups[Type.CLASSIC, State.STABLE],
                  "session.timeout.ms": SESSION_TIMEOUT_MS}),
        Consumer(conf(broker.bootstrap, groups[Type.CONSUMER, State.STABLE])),
    ]
    try:
        for c in live:
            c.subscribe([topic])
        deadline = time.monotonic() + 30
        while not all(c.assignment() for c in live) and time.monotonic() < deadline:
            for c in live:
                c.poll(0.1)
        assert all(len(c.assignment()) == 2 for c in live)
        a = admin(broker.bootstrap)

        def listed(**filters):
            res = a.list_consumer_groups(request_timeout=10, **filters).result(timeout=20)
            assert not res.errors, res.errors
            return {g.group_id: (g.type, g.state) for g in res.valid}

        everything = listed()
        assert everything == {g: key for key, g in groups.items()}, everything

        def expect(types=None, states=None):
            return {g for (t, s), g in groups.items()
                    if (types is None or t in types) and (states is None or s in states)}

        for types in ({Type.CLASSIC}, {Type.CONSUMER}, {Type.CLASSIC, Type.CONSUMER}):
            assert set(listed(types=types)) == expect(types=types), types
        for states in ({State.STABLE}, {State.EMPTY}, {State.DEAD}):
            assert set(listed(states=states)) == expect(states=states), states
        for types in ({Type.CLASSIC}, {Type.CONSUMER}):
            for states in ({State.STABLE}, {State.EMPTY}):
                got = set(listed(types=types, states=states))
                assert got == expect(types, states), (types, states, got)
                assert len(got) == 1
    finally:
        for c in live:
            c.close()


def test_describing_an_unknown_group(make_broker):
    """librdkafka asks ConsumerGroupDescribe first (GROUP_ID_NOT_FOUND) and falls back to
    DescribeGroups, which up to v5 describes an unknown group, as Kafka does, as a classic group
    in state Dead without members and without an error."""
    from confluent_kafka import ConsumerGroupState, ConsumerGroupType
    from helpers import admin

    broker = make_broker(*BROKER_ARGS)
    a = admin(broker.bootstrap)
    desc = a.describe_consumer_groups(["no-such-group"],
                                      request_timeout=10)["no-such-group"].result(timeout=20)
    assert desc.group_id == "no-such-group"
    assert desc.state == ConsumerGroupState.DEAD, desc.state
    assert desc.type == ConsumerGroupType.CLASSIC, desc.type
    assert desc.members == []
    assert desc.partition_assignor == ""


def test_created_and_grown_topics_are_assigned(make_broker):
    from confluent_kafka.admin import NewPartitions
    from helpers import admin, create_topic, unique_topic

    broker = make_broker(*BROKER_ARGS)
    grown = unique_topic("kip848-grow")
    later = unique_topic("kip848-later")
    group = unique_topic("g848-grow")
    create_topic(broker.bootstrap, grown, partitions=2)
    c = Consumer(conf(broker.bootstrap, group, **{"topic.metadata.refresh.interval.ms": 1000}))

    def wait_assigned(want, what):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            c.poll(0.2)
            got = sorted((tp.topic, tp.partition) for tp in c.assignment())
            if got == want:
                return
        raise AssertionError(f"{what}: assignment {got}, wanted {want}")

    try:
        c.subscribe([grown, later])
        wait_assigned([(grown, 0), (grown, 1)], "initial")
        a = admin(broker.bootstrap)
        a.create_partitions([NewPartitions(grown, 4)])[grown].result(timeout=20)
        wait_assigned([(grown, p) for p in range(4)], "after growth")
        create_topic(broker.bootstrap, later, partitions=1)
        wait_assigned(sorted([(grown, p) for p in range(4)] + [(later, 0)]), "after creation")
    finally:
        c.close()


def consume_group(bootstrap, group, topic, want, timeout=40.0):
    c = Consumer(conf(bootstrap, group))
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
def test_committed_offsets_survive_consumer_and_broker_restarts(make_broker, how):
    from helpers import create_topic, produce_confluent, unique_topic

    broker = make_broker(*BROKER_ARGS)
    topic = unique_topic("kip848-restart")
    group = unique_topic("g848-restart")
    create_topic(broker.bootstrap, topic, partitions=3)
    produce_confluent(broker.bootstrap, topic, [(None, f"a{i}".encode(), None, i % 3)
                                                 for i in range(30)])
    first = consume_group(broker.bootstrap, group, topic, 30)
    assert sorted(v for _, _, v in first) == sorted(f"a{i}" for i in range(30))

    produce_confluent(broker.bootstrap, topic, [(None, f"b{i}".encode(), None, i % 3)
                                                 for i in range(9)])
    second = consume_group(broker.bootstrap, group, topic, 9)
    assert sorted(v for _, _, v in second) == sorted(f"b{i}" for i in range(9))

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


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_whole_group_resumes_after_consumers_and_broker_restart(make_broker, assignor, how):
    """Three consumers (group.protocol=consumer, the server-side assignor chosen with
    group.remote.assignor) commit what they processed and close, the broker restarts, three
    fresh consumers get exactly the messages produced since."""
    from test_groups_confluent import whole_group_restart

    broker = make_broker(*BROKER_ARGS)
    whole_group_restart(
        broker, lambda group: conf(broker.bootstrap, group, **{"group.remote.assignor": assignor}),
        how, assignor=assignor, contiguous=assignor == "range")


def test_classic_and_consumer_groups_cannot_share_an_id(make_broker):
    from helpers import create_topic, unique_topic

    broker = make_broker(*BROKER_ARGS)
    topic = unique_topic("kip848-mixed")
    group = unique_topic("g848-mixed")
    create_topic(broker.bootstrap, topic, partitions=1)
    new = Consumer(conf(broker.bootstrap, group))
    errors = []
    old = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                    "session.timeout.ms": 6000, "error_cb": errors.append})
    try:
        new.subscribe([topic])
        deadline = time.monotonic() + 30
        while not new.assignment() and time.monotonic() < deadline:
            new.poll(0.2)
        assert new.assignment()
        old.subscribe([topic])
        deadline = time.monotonic() + 15
        seen = []
        while time.monotonic() < deadline and not seen:
            m = old.poll(0.2)
            new.poll(0)
            if m is not None and m.error() is not None:
                seen.append(m.error())
            seen.extend(errors)
        assert not old.assignment(), "a classic member must not join a consumer group"
    finally:
        new.close()
        old.close()


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "member":
    run_member(*sys.argv[2:])
