"""kcat (librdkafka 2.0.2 from Debian) against weir: produce/consume under every codec, -L."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from helpers import unique_topic

KCAT = shutil.which("kcat") or shutil.which("kafkacat")

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def kcat(*args: str, input: str | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
    if KCAT is None:
        pytest.fail("kcat is not installed: run scripts/install-test-deps", pytrace=False)
    try:
        return subprocess.run(
            [KCAT, *args], input=input, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(
            f"kcat {' '.join(args)} did not finish within {timeout}s; stderr:\n{e.stderr}"
        ) from None


def produce(bootstrap: str, topic: str, lines: list[str], *extra: str):
    r = kcat("-b", bootstrap, "-P", "-t", topic, "-K:", "-X", "message.timeout.ms=15000",
             *extra, input="".join(line + "\n" for line in lines))
    assert r.returncode == 0, f"kcat -P failed ({r.returncode}): {r.stderr}"
    assert "Delivery failed" not in r.stderr and "ERROR" not in r.stderr, r.stderr
    return r


def consume(bootstrap: str, topic: str, fmt: str = "%k|%s|%h|%p|%o\\n", *extra: str) -> list[str]:
    r = kcat("-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", fmt, *extra)
    assert r.returncode == 0, f"kcat -C failed ({r.returncode}): {r.stderr}"
    return r.stdout.splitlines()


@pytest.mark.parametrize("codec", CODECS)
def test_kcat_produce_consume_with_codec(broker, codec):
    topic = unique_topic(f"kcat-{codec}")
    n = 200
    lines = [f"key-{i % 7}:value-{i}-{codec}-" + "x" * (i % 50) for i in range(n)]
    produce(broker.bootstrap, topic, lines,
            "-H", "trace=abc123", "-H", f"codec={codec}",
            "-X", f"compression.codec={codec}", "-X", "linger.ms=20")

    out = consume(broker.bootstrap, topic)
    assert len(out) == n, f"expected {n} messages, got {len(out)}:\n" + "\n".join(out[:5])
    for i, row in enumerate(out):
        key, value, headers, partition, offset = row.split("|")
        expected_key, expected_value = lines[i].split(":", 1)
        assert (key, value) == (expected_key, expected_value), f"message {i}"
        assert headers == f"trace=abc123,codec={codec}", f"message {i} headers"
        assert partition == "0"
        assert int(offset) == i, f"offsets not contiguous at message {i}"


def test_kcat_two_produce_runs_append_in_order(broker):
    topic = unique_topic("kcat-append")
    first = [f"a:{i}" for i in range(50)]
    second = [f"b:{i}" for i in range(50)]
    produce(broker.bootstrap, topic, first, "-X", "compression.codec=lz4")
    produce(broker.bootstrap, topic, second, "-X", "compression.codec=gzip")
    out = consume(broker.bootstrap, topic, "%o %k %s\\n")
    assert out == [f"{i} {line.replace(':', ' ', 1)}" for i, line in enumerate(first + second)]


def test_kcat_json_output(broker):
    import json

    topic = unique_topic("kcat-json")
    produce(broker.bootstrap, topic, ["k1:v1", "k2:v2"], "-H", "h=1")
    out = consume(broker.bootstrap, topic, "%s", "-J")
    # kcat -J writes the JSON objects back to back; decode them one after another
    text, rows, pos = "".join(out), [], 0
    dec = json.JSONDecoder()
    while pos < len(text):
        obj, pos = dec.raw_decode(text, pos)
        rows.append(obj)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    assert [(r["key"], r["payload"], r["offset"], r["partition"], r["topic"]) for r in rows] == [
        ("k1", "v1", 0, 0, topic),
        ("k2", "v2", 1, 0, topic),
    ]
    for r in rows:
        assert r["tstype"] == "create" and r["ts"] > 0, r
        assert r["headers"] == ["h", "1"], r


def test_kcat_metadata_listing(broker):
    topic = unique_topic("kcat-meta")
    produce(broker.bootstrap, topic, ["k:v"])
    r = kcat("-b", broker.bootstrap, "-L")
    assert r.returncode == 0, r.stderr
    assert f'topic "{topic}" with 1 partitions:' in r.stdout, r.stdout
    assert "1 brokers:" in r.stdout, r.stdout
    assert f"at {broker.bootstrap}" in r.stdout, r.stdout
    # -L -t <topic> as well, in JSON
    r = kcat("-b", broker.bootstrap, "-L", "-t", topic, "-J")
    assert r.returncode == 0, r.stderr
    import json

    md = json.loads(r.stdout)
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic in topics, md
    parts = topics[topic]["partitions"]
    assert [p["partition"] for p in parts] == [0]
    assert parts[0]["leader"] == md["brokers"][0]["id"]
