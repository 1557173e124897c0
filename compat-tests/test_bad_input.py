"""Garbage on the wire closes that one connection; bad requests get Kafka's error codes; other
clients are unaffected and the broker keeps running."""

from __future__ import annotations

import random
import socket
import struct
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import NewTopic

from helpers import admin, consume_all, create_topic, kafka_error_code, topic_partition_count, unique_topic

pytestmark = pytest.mark.broker_warnings_ok  # garbage is logged

MAX_REQUEST = 1_048_576


def request_header(api_key: int, api_version: int, correlation_id: int,
                   client_id: bytes = b"weir-compat") -> bytes:
    """Request header v1 (v2 adds an empty tagged-field byte; callers append it if needed)."""
    return struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id


def frame(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


def assert_closed(sock: socket.socket, what: str, timeout: float = 5.0) -> bytes:
    """Waits until the peer closes `sock`; returns whatever it sent before closing."""
    sock.settimeout(0.5)
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(
        f"broker kept the connection open {timeout}s after {what} (sent back {received[:64]!r})"
    )


def send_and_expect_close(bootstrap: str, payload: bytes, what: str) -> bytes:
    host, port = bootstrap.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        try:
            s.sendall(payload)
        except (ConnectionResetError, BrokenPipeError):
            return b""  # closed while we were still sending: that is a close too
        return assert_closed(s, what)


class LiveClient:
    """A confluent-kafka producer that keeps working next to the garbage."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.topic = unique_topic("bad-bystander")
        self.sent = []
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
        self.errors = []

    def produce_some(self, n: int = 10):
        for _ in range(n):
            v = f"v{len(self.sent)}".encode()
            self.sent.append(v)
            self.producer.produce(self.topic, value=v,
                                  on_delivery=lambda e, m: e and self.errors.append(e))
        assert self.producer.flush(20) == 0
        assert not self.errors, self.errors

    def check_all_readable(self):
        got = consume_all(self.bootstrap, self.topic, min_count=len(self.sent), timeout=30)
        assert [m.value() for m in got] == self.sent


@pytest.fixture
def limited_broker(make_broker):
    return make_broker("--max-request-bytes", str(MAX_REQUEST))


def test_garbage_frames_close_only_their_connection(limited_broker):
    b = limited_broker
    live = LiveClient(b.bootstrap)
    live.produce_some()
    rng = random.Random(0xC0FFEE)

    cases = [
        ("negative frame size", struct.pack(">i", -16) + b"\x00" * 16),
        ("frame size of -1", b"\xff\xff\xff\xff"),
        ("frame over --max-request-bytes",
         struct.pack(">i", 4 * MAX_REQUEST) + request_header(0, 9, 1) + b"\x00" * 1024),
        ("frame one byte over --max-request-bytes",
         struct.pack(">i", MAX_REQUEST + 1) + request_header(18, 0, 1)),
        ("unknown API key", frame(request_header(12345, 0, 7) + bytes(rng.getrandbits(8) for _ in range(64)))),
        ("Produce v9 header with a garbage body",
         frame(request_header(0, 9, 8) + b"\x00" + bytes(rng.getrandbits(8) for _ in range(300)))),
        ("Metadata v1 with a truncated body", frame(request_header(3, 1, 9) + b"\x00\x00\x00\x05\x00")),
        ("frame shorter than a request header", frame(b"\x00\x12")),
        ("random bytes", bytes(rng.getrandbits(8) for _ in range(4096))),
    ]
    for what, payload in cases:
        send_and_expect_close(b.bootstrap, payload, what)
        assert b.alive(), f"broker died after {what}"
        live.produce_some(3)

    # a frame cut short by the client going away
    host, port = b.bootstrap.split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(struct.pack(">i", 100) + request_header(18, 3, 1)[:5])
    assert b.alive()

    live.produce_some()
    live.check_all_readable()
    assert b.alive()


@pytest.mark.parametrize("api,version,body", [
    (3, 1, struct.pack(">i", 0x7FFFFFFF)),                      # Metadata v1: topics[2^31-1]
    (23, 3, struct.pack(">ii", -1, 0x7FFFFFFF)),                # OffsetForLeaderEpoch v3
    (0, 3, struct.pack(">hhii", -1, 1, 30000, 0x7FFFFFFF)),     # Produce v3: topic_data[2^31-1]
    (19, 2, struct.pack(">i", 0x7FFFFFFF)),                     # CreateTopics v2
    (3, 9, b"\x00" + b"\xff\xff\xff\xff\x0f"),                    # Metadata v9: compact array
], ids=["metadata", "offset_for_leader_epoch", "produce", "create_topics", "metadata_compact"])
def test_huge_array_count_in_tiny_frame(broker, api, version, body):
    """An array length from the wire must never size an allocation: a 20-byte frame that
    claims 2^31-1 elements is malformed and closes the connection, nothing more."""
    send_and_expect_close(broker.bootstrap, frame(request_header(api, version, 1) + body),
                          f"API {api} v{version} with an array count of 2^31-1")
    time.sleep(0.2)
    assert broker.alive(), f"broker died (exit {broker.proc.returncode}) on a 2^31-1 array count"
    live = LiveClient(broker.bootstrap)
    live.produce_some(3)
    live.check_all_readable()


def test_random_fuzz_frames_keep_broker_alive(limited_broker):
    """Many random, plausibly framed requests: every connection is answered or closed,
    and the broker survives."""
    b = limited_broker
    host, port = b.bootstrap.split(":")
    rng = random.Random(1234)
    api_keys = [0, 1, 2, 3, 18, 19, 20, 21, 23, 32, 33, 37, 44, 60]
    deadline = time.monotonic() + 30
    sent = 0
    for i in range(150):
        if time.monotonic() > deadline:
            break
        api, ver = rng.choice(api_keys), rng.randrange(0, 13)
        body = request_header(api, ver, i) + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.settimeout(2)
            try:
                s.sendall(frame(body))
                s.recv(65536)  # an answer or a close; both are fine
            except (socket.timeout, ConnectionResetError, BrokenPipeError):
                pass
        sent += 1
        assert b.alive(), f"broker died on fuzz frame {i} (api {api} v{ver}): {body!r}"
    assert sent >= 50
    live = LiveClient(b.bootstrap)
    live.produce_some()
    live.check_all_readable()


def test_api_versions_unsupported_version_answered_in_v0(broker):
    """KIP-511: an ApiVersions request of an unknown version gets a v0 answer with
    UNSUPPORTED_VERSION and the supported list."""
    host, port = broker.bootstrap.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(frame(request_header(18, 99, 4242) + b"\x00"))
        s.settimeout(5)
        head = b""
        while len(head) < 4:
            chunk = s.recv(4 - len(head))
            assert chunk, "connection closed instead of an UNSUPPORTED_VERSION answer"
            head += chunk
        (size,) = struct.unpack(">i", head)
        assert 0 < size < 100_000
        body = b""
        while len(body) < size:
            chunk = s.recv(size - len(body))
            assert chunk
            body += chunk
    corr, err, n = struct.unpack(">ihi", body[:10])
    assert corr == 4242
    assert err == 35, f"error code {err}, expected UNSUPPORTED_VERSION (35)"
    keys = [struct.unpack(">hhh", body[10 + 6 * i:16 + 6 * i]) for i in range(n)]
    assert (18, 0) in [(k, lo) for k, lo, _hi in keys], keys
    assert broker.alive()


def test_unknown_topic_without_auto_create(make_broker):
    b = make_broker("--auto-create-topics", "false")
    topic = unique_topic("bad-noauto")
    reports = []
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                  "topic.metadata.propagation.max.ms": 1000, "message.timeout.ms": 10000})
    p.produce(topic, value=b"nowhere", on_delivery=lambda e, m: reports.append(e))
    assert p.flush(20) == 0
    assert len(reports) == 1 and reports[0] is not None, reports
    assert reports[0].code() in (KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART), reports[0]
    a = admin(b.bootstrap)
    assert topic_partition_count(a, topic) is None, "topic was auto-created although disabled"

    # explicitly created topics still work on this broker
    other = unique_topic("bad-explicit")
    create_topic(b.bootstrap, other)
    ok = []
    p.produce(other, value=b"here", on_delivery=lambda e, m: ok.append((e, m.offset())))
    assert p.flush(20) == 0
    assert ok == [(None, 0)]


@pytest.mark.parametrize("name", ["bad name with spaces", "x" * 250, "..", "bad/slash", "ünïcode"])
def test_illegal_topic_name(broker, name):
    a = admin(broker.bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)],
                         operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        fs[name].result(timeout=20)
    assert kafka_error_code(ei.value) == KafkaError.TOPIC_EXCEPTION, ei.value  # INVALID_TOPIC_EXCEPTION
    assert name not in a.list_topics(timeout=10).topics
    assert broker.alive()


def test_message_larger_than_max_message_bytes(broker):
    topic = unique_topic("bad-toolarge")
    create_topic(broker.bootstrap, topic, config={"max.message.bytes": "10000"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0,
                  "compression.codec": "none"})
    reports = []
    p.produce(topic, value=b"B" * 50_000, on_delivery=lambda e, m: reports.append(e))
    assert p.flush(20) == 0
    assert len(reports) == 1 and reports[0] is not None, "50 kB message accepted by a 10 kB topic"
    assert reports[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, reports[0]

    p.produce(topic, value=b"s" * 5000, on_delivery=lambda e, m: reports.append(e))
    assert p.flush(20) == 0
    assert reports[1] is None, reports[1]
    got = consume_all(broker.bootstrap, topic, min_count=1)
    assert [(m.offset(), len(m.value())) for m in got] == [(0, 5000)]
