"""kafkajs 2.2.4 (pure JavaScript) against weir, through the scripts in compat-tests/node/.

What kafkajs produces is read back with confluent-kafka (assign) here; kafkajs's own group
consumer is exercised in test_groups_clients.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import consume_all, unique_topic

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
    (-1, "none", "idempotent"),
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
