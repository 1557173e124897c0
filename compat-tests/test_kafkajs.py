"""kafkajs 2.2.4 (pure JavaScript) against weir, through the scripts in compat-tests/node/.

kafkajs produces under every codec (gzip built in; snappy, lz4 and zstd through the pure
JavaScript codecs of node/codecs.js) and confluent-kafka and kafka-python read it back (assign);
a kafkajs group consumer reads batches that confluent-kafka and kafka-python compressed under
every codec. Group offsets of kafkajs are exercised in test_groups_clients.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import (
    CODEC_IDS,
    consume_all,
    kafka_python_read,
    produce_confluent,
    stored_batches,
    unique_topic,
)

NODE_DIR = Path(__file__).parent / "node"
NODE = shutil.which("node")


def node(script: str, *args: str, timeout: float = 90.0) -> dict:
    if NODE is None or not (NODE_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.fail("node or kafkajs missing: run scripts/install-test-deps", pytrace=False)
    try:
        r = subprocess.run([NODE, script, *args], cwd=NODE_DIR, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"node {script} {args} hung; stderr:\n{e.stderr}") from None
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert lines, f"node {script} printed nothing (exit {r.returncode}); stderr:\n{r.stderr}"
    result = json.loads(lines[-1])
    assert r.returncode == 0 and "error" not in result, (
        f"node {script} {args} failed (exit {r.returncode}): {result.get('error')}\n"
        f"stderr:\n{r.stderr[-4000:]}"
    )
    return result


@pytest.mark.parametrize("acks,compression,mode", [
    (-1, "none", "plain"), (1, "none", "plain"), (-1, "gzip", "plain"), (1, "gzip", "plain"),
    (-1, "snappy", "plain"), (-1, "lz4", "plain"), (-1, "zstd", "plain"), (1, "zstd", "plain"),
    (-1, "none", "idempotent"), (-1, "lz4", "idempotent"),
])
def test_kafkajs_produce(broker, acks, compression, mode):
    topic = unique_topic(f"kjs-{'all' if acks == -1 else acks}-{compression}")
    n = 120
    out = node("produce.js", broker.bootstrap, topic, str(acks), compression, str(n), mode)

    sends = out["sends"]
    assert len(sends) == 3  # batches of 50
    base_offsets = []
    for metas in sends:
        assert len(metas) == 1, metas
        (m,) = metas
        assert m["topicName"] == topic and m["partition"] == 0 and m["errorCode"] == 0, m
        base_offsets.append(int(m["baseOffset"]))
    assert base_offsets == [0, 50, 100]

    # stored as kafkajs compressed them: one batch per send, under its codec
    assert stored_batches(broker.data_dir, topic) == [
        (0, CODEC_IDS[compression], 50), (50, CODEC_IDS[compression], 50),
        (100, CODEC_IDS[compression], 20)]

    got = consume_all(broker.bootstrap, topic, min_count=n)
    assert [m.offset() for m in got] == list(range(n))
    assert [(m.key(), m.value()) for m in got] == [
        (f"k{i % 4}".encode(), f"kjs-{i}".encode()) for i in range(n)
    ]
    assert [m.headers() for m in got] == [
        [("src", b"kafkajs"), ("seq", str(i).encode())] for i in range(n)
    ]

    offsets = node("admin.js", "offsets", broker.bootstrap, topic)["offsets"]
    assert offsets == [{"partition": 0, "offset": str(n), "high": str(n), "low": "0"}]

    # kafka-python decodes the same stored batches with its own codecs
    records, _ = kafka_python_read(broker.bootstrap, topic, expected=n)
    assert [(r.offset, r.key, r.value) for r in records] == [
        (i, f"k{i % 4}".encode(), f"kjs-{i}".encode()) for i in range(n)
    ]
    assert [r.headers for r in records] == [
        [("src", b"kafkajs"), ("seq", str(i).encode())] for i in range(n)
    ]


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_kafkajs_consumes_batches_compressed_by_other_clients(make_broker, codec):
    """A kafkajs consumer reads what confluent-kafka (librdkafka's codecs; raw snappy) and then
    kafka-python (its own codecs; xerial-framed snappy) compressed: the broker serves the
    batches as they were stored."""
    from kafka import KafkaProducer

    b = make_broker("--group-initial-rebalance-delay-ms", "0")
    topic = unique_topic(f"kjs-read-{codec}")
    n_ck, n_kp = 200, 100
    ck_msgs = [(f"ck-{i % 6}".encode() if i % 4 else None, f"ck-value-{i:04d}-{'x' * 40}".encode(),
                [("src", b"confluent-kafka"), ("i", str(i).encode())]) for i in range(n_ck)]
    reports = produce_confluent(b.bootstrap, topic, ck_msgs,
                                {"acks": "all", "compression.codec": codec, "linger.ms": 50})
    assert [r[0] for r in reports] == [None] * n_ck

    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", linger_ms=20,
                      compression_type=None if codec == "none" else codec)
    try:
        futures = [p.send(topic, key=f"kp-{i % 3}".encode(), value=f"kp-value-{i:04d}".encode(),
                          headers=[("src", b"kafka-python"), ("i", str(i).encode())])
                   for i in range(n_kp)]
        p.flush(timeout=30)
        metas = [f.get(timeout=30) for f in futures]
    finally:
        p.close(timeout=10)
    assert [m.offset for m in metas] == list(range(n_ck, n_ck + n_kp))

    batches = stored_batches(b.data_dir, topic)
    assert {c for _, c, _ in batches} == {CODEC_IDS[codec]}, batches
    assert sum(count for _, _, count in batches) == n_ck + n_kp, batches
    if codec != "none":
        assert any(count > 1 for _, _, count in batches), f"no multi-record batch: {batches}"

    out = node("consume.js", b.bootstrap, unique_topic("kjs-reader"), topic, str(n_ck + n_kp))
    got = out["messages"]
    expected = [
        {"partition": 0, "offset": i, "key": k.decode() if k is not None else None,
         "value": v.decode(), "headers": {hk: hv.decode() for hk, hv in h}}
        for i, (k, v, h) in enumerate(ck_msgs)
    ] + [
        {"partition": 0, "offset": n_ck + i, "key": f"kp-{i % 3}", "value": f"kp-value-{i:04d}",
         "headers": {"src": "kafka-python", "i": str(i)}}
        for i in range(n_kp)
    ]
    assert [{k: m[k] for k in ("partition", "offset", "key", "value", "headers")}
            for m in got] == expected


def test_kafkajs_admin_lifecycle(broker):
    topic = unique_topic("kjs-admin")
    out = node("admin.js", "lifecycle", broker.bootstrap, topic)

    assert out["created"] is True
    assert out["createdAgain"] is False, "second createTopics must report TOPIC_ALREADY_EXISTS"
    assert out["listed"] is True
    (t,) = out["metadata"]["topics"]
    assert t["name"] == topic
    parts = sorted(t["partitions"], key=lambda p: p["partitionId"])
    assert [p["partitionId"] for p in parts] == [0, 1, 2]
    brokers = out["cluster"]["brokers"]
    assert len(brokers) == 1
    node_id = brokers[0]["nodeId"]
    assert f"{brokers[0]['host']}:{brokers[0]['port']}" == broker.bootstrap
    assert out["cluster"]["controller"] == node_id
    assert out["cluster"]["clusterId"]
    for p in parts:
        assert p["partitionErrorCode"] == 0 and p["leader"] == node_id, p
        assert p["replicas"] == [node_id] and p["isr"] == [node_id], p

    (pm,) = out["produced"]
    assert (pm["partition"], pm["errorCode"], pm["baseOffset"]) == (1, 0, "0"), pm
    offsets = sorted(out["offsets"], key=lambda o: o["partition"])
    assert offsets == [
        {"partition": 0, "offset": "0", "high": "0", "low": "0"},
        {"partition": 1, "offset": "5", "high": "5", "low": "0"},
        {"partition": 2, "offset": "0", "high": "0", "low": "0"},
    ]
    assert out["goneAfterDelete"] is True
