"""Idempotent producers deliver every message exactly once, also when they must retry batches
the broker already appended.

Retries are forced by `FaultProxy`, a small TCP proxy between the clients and weir: it forwards
bytes unchanged, but every Nth Produce response it swallows and closes the client's connection,
so the client cannot tell whether that batch (and any pipelined behind it) was written and sends
it again with the same producer id, epoch and sequence numbers. The broker must recognise the
duplicates (and answer with the original offsets) instead of appending them a second time.

The broker advertises the proxy's address (`--advertised-listener`), so every connection a
client opens after bootstrap goes through the proxy as well.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from confluent_kafka import KafkaError, Producer
from kafka import KafkaProducer

from helpers import consume_all, create_topic, unique_topic

PRODUCE = 0  # api key


# ---------------------------------------------------------------------- fault-injecting proxy
def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv_frame(sock: socket.socket) -> bytes | None:
    """One size-prefixed Kafka frame (size included), or None when the connection is gone."""
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    if size < 0:
        return None
    body = _recv_exact(sock, size)
    if body is None:
        return None
    return head + body


class FaultProxy:
    """127.0.0.1:<port> -> the broker. Forwards every frame unchanged, except that every
    `drop_every`-th Produce response (at most `max_drops` of them) is dropped and that client
    connection closed (the broker side with it)."""

    def __init__(self, drop_every: int, max_drops: int):
        self.drop_every = drop_every
        self.max_drops = max_drops
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.upstream: tuple[str, int] | None = None
        self.lock = threading.Lock()
        self.produce_requests = 0
        self.produce_responses = 0
        self.drops = 0
        self.connections = 0
        self.closed = False
        self._socks: list[socket.socket] = []

    def start(self, upstream_host: str, upstream_port: int) -> "FaultProxy":
        self.upstream = (upstream_host, upstream_port)
        threading.Thread(target=self._accept_loop, daemon=True, name="proxy-accept").start()
        return self

    def close(self) -> None:
        self.closed = True
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            self._close(s)

    @staticmethod
    def _close(s: socket.socket) -> None:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._close(client)
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
                self._socks += [client, upstream]
            api_keys: dict[int, int] = {}  # correlation id -> api key, for this connection
            threading.Thread(target=self._client_to_broker, args=(client, upstream, api_keys),
                             daemon=True).start()
            threading.Thread(target=self._broker_to_client, args=(client, upstream, api_keys),
                             daemon=True).start()

    def _client_to_broker(self, client, upstream, api_keys) -> None:
        while True:
            frame = _recv_frame(client)
            if frame is None or len(frame) < 12:
                break
            api_key, _api_version, corr = struct.unpack(">hhi", frame[4:12])
            # recorded before forwarding, so it is known before the response can arrive
            api_keys[corr] = api_key
            if api_key == PRODUCE:
                with self.lock:
                    self.produce_requests += 1
            try:
                upstream.sendall(frame)
            except OSError:
                break
        self._close(client)
        self._close(upstream)

    def _broker_to_client(self, client, upstream, api_keys) -> None:
        while True:
            frame = _recv_frame(upstream)
            if frame is None or len(frame) < 8:
                break
            (corr,) = struct.unpack(">i", frame[4:8])
            if api_keys.pop(corr, None) == PRODUCE:
                with self.lock:
                    self.produce_responses += 1
                    drop = (self.produce_responses % self.drop_every == 0
                            and self.drops < self.max_drops)
                    if drop:
                        self.drops += 1
                if drop:
                    break  # the response is never forwarded; both sides are closed below
            try:
                client.sendall(frame)
            except OSError:
                break
        self._close(client)
        self._close(upstream)

    def stats(self) -> dict:
        with self.lock:
            return {"connections": self.connections, "produce_requests": self.produce_requests,
                    "produce_responses": self.produce_responses, "drops": self.drops}


@pytest.fixture
def proxied_broker(make_broker):
    """A broker that advertises a FaultProxy in front of it; yields (broker, proxy)."""
    proxies = []

    def _make(drop_every: int, max_drops: int, *flags: str):
        proxy = FaultProxy(drop_every, max_drops)
        proxies.append(proxy)
        b = make_broker("--advertised-listener", f"127.0.0.1:{proxy.port}", *flags)
        proxy.start(b.host, b.port)
        return b, proxy

    yield _make
    for p in proxies:
        p.close()


def payload(i: int) -> bytes:
    return b"%06d|" % i + b"x" * 30


def seq_of(value: bytes) -> int:
    return int(value.split(b"|", 1)[0])


# ---------------------------------------------------------------------- confluent-kafka
def test_confluent_idempotent_producer_forced_retries(proxied_broker):
    """librdkafka's idempotent producer (acks=all) resends batches whose Produce response was
    lost with the connection; the broker dedupes them by producer id/epoch/sequence, so each of
    2,000 unique messages is in the log exactly once, in produce order within each of the 3
    partitions, at the offset its delivery report gave."""
    b, proxy = proxied_broker(7, 12)
    topic = unique_topic("idem-retry")
    bootstrap = f"127.0.0.1:{proxy.port}"
    create_topic(bootstrap, topic, partitions=3)

    n = 2000
    reports = []

    def on_delivery(err, msg):
        reports.append((err, msg.partition(), msg.offset(), msg.value()))

    p = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "batch.num.messages": 20,  # many small Produce requests, several in flight
        "max.in.flight.requests.per.connection": 5,
        "reconnect.backoff.ms": 10,
        "reconnect.backoff.max.ms": 100,
        "retry.backoff.ms": 10,
        "retry.backoff.max.ms": 50,
        "message.timeout.ms": 60000,
    })
    for i in range(n):
        while True:
            try:
                p.produce(topic, value=payload(i), partition=i % 3, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        if i % 50 == 49:
            p.poll(0.005)  # let batches go out while we keep producing
    assert p.flush(60) == 0, f"undelivered messages after 60 s; proxy {proxy.stats()}"
    stats = proxy.stats()
    assert stats["drops"] > 0, f"the proxy dropped no Produce response, so no retries: {stats}"
    errors = [r for r in reports if r[0] is not None]
    assert not errors, f"{len(errors)} delivery errors, first: {errors[0][0]}"
    assert len(reports) == n

    got = consume_all(bootstrap, topic, partitions=(0, 1, 2), min_count=n, timeout=60)
    seqs = [seq_of(m.value()) for m in got]
    dupes = len(seqs) - len(set(seqs))
    assert dupes == 0, f"{dupes} duplicated messages in the log (proxy {stats})"
    assert sorted(seqs) == list(range(n)), "messages lost"
    assert all(m.value() == payload(seq_of(m.value())) for m in got), "payload corrupted"
    where = {}
    for part in range(3):
        msgs = [m for m in got if m.partition() == part]
        part_seqs = [seq_of(m.value()) for m in msgs]
        assert part_seqs == list(range(part, n, 3)), f"partition {part} out of order or mixed"
        offsets = [m.offset() for m in msgs]
        assert offsets == list(range(len(msgs))), f"partition {part}: offsets not contiguous"
        where.update({m.value(): (part, m.offset()) for m in msgs})
    # a retried batch's report carries the offsets of the first (kept) append
    reported = [(r[3], (r[1], r[2])) for r in reports if r[2] >= 0]
    assert len(reported) > n // 2, "most delivery reports carry no offset"
    wrong = [(v, at, where[v]) for v, at in reported if where[v] != at]
    assert not wrong, f"{len(wrong)} delivery reports name the wrong offset, e.g. {wrong[:3]}"
    print(f"proxy: {stats}")


# ---------------------------------------------------------------------- kafka-python
def _kp_produce(bootstrap: str, topic: str, n: int, partitions: int):
    p = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                      linger_ms=2, batch_size=1024, request_timeout_ms=20000,
                      retry_backoff_ms=20, reconnect_backoff_ms=10,
                      reconnect_backoff_max_ms=100, max_in_flight_requests_per_connection=5)
    try:
        futures = [p.send(topic, value=payload(i), partition=i % partitions) for i in range(n)]
        p.flush(timeout=60)
        metas = [f.get(timeout=60) for f in futures]
    finally:
        p.close(timeout=10)
    return metas


@pytest.mark.parametrize("through_fault_proxy", [False, True], ids=["direct", "forced-retries"])
def test_kafka_python_idempotent_producer(make_broker, proxied_broker, through_fault_proxy):
    """kafka-python's idempotent producer (InitProducerId, per-partition sequences): 1,500
    messages over 3 partitions are read back exactly once, in order per partition, at the offsets
    the producer was told; also when the proxy drops Produce responses and forces resends."""
    if through_fault_proxy:
        b, proxy = proxied_broker(5, 10)
        bootstrap = f"127.0.0.1:{proxy.port}"
    else:
        b, proxy = make_broker(), None
        bootstrap = b.bootstrap
    topic = unique_topic("idem-kp")
    create_topic(bootstrap, topic, partitions=3)
    n = 1500
    metas = _kp_produce(bootstrap, topic, n, 3)
    if proxy is not None:
        stats = proxy.stats()
        assert stats["drops"] > 0, f"the proxy dropped no Produce response: {stats}"
        print(f"proxy: {stats}")

    got = consume_all(bootstrap, topic, partitions=(0, 1, 2), min_count=n, timeout=60)
    seqs = [seq_of(m.value()) for m in got]
    assert len(seqs) == len(set(seqs)), f"{len(seqs) - len(set(seqs))} duplicated messages"
    assert sorted(seqs) == list(range(n)), "messages lost"
    for part in range(3):
        msgs = [m for m in got if m.partition() == part]
        assert [seq_of(m.value()) for m in msgs] == list(range(part, n, 3)), \
            f"partition {part} out of order"
        assert [m.offset() for m in msgs] == list(range(len(msgs)))
    where = {m.value(): (m.partition(), m.offset()) for m in got}
    wrong = [(i, (md.partition, md.offset), where[payload(i)]) for i, md in enumerate(metas)
             if md.offset >= 0 and where[payload(i)] != (md.partition, md.offset)]
    assert not wrong, f"{len(wrong)} records acknowledged at the wrong offset, e.g. {wrong[:3]}"


def test_confluent_idempotent_producer_sequences_survive_reconnects(proxied_broker):
    """Every Produce response dropped (up to 20): librdkafka reconnects each time and must not
    lose its idempotent producer state; the log still holds each message exactly once and no
    delivery fails with OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID."""
    b, proxy = proxied_broker(1, 20)
    topic = unique_topic("idem-every")
    bootstrap = f"127.0.0.1:{proxy.port}"
    create_topic(bootstrap, topic, partitions=1)
    n = 400
    reports = []
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 1, "batch.num.messages": 10,
                  "reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 50,
                  "retry.backoff.ms": 10, "retry.backoff.max.ms": 50,
                  "message.timeout.ms": 60000})
    for i in range(n):
        p.produce(topic, value=payload(i), on_delivery=lambda e, m: reports.append(e))
        if i % 20 == 19:
            p.poll(0.005)
    assert p.flush(60) == 0, f"undelivered after 60 s; proxy {proxy.stats()}"
    stats = proxy.stats()
    assert stats["drops"] == 20, stats
    bad = [e for e in reports if e is not None]
    assert not bad, f"{len(bad)} delivery errors, first: {bad[0]}"
    got = consume_all(bootstrap, topic, min_count=n, timeout=60)
    assert [seq_of(m.value()) for m in got] == list(range(n)), "lost, duplicated or reordered"
    assert [m.offset() for m in got] == list(range(n))
