"""The settings contract of the `weir` binary, seen from outside: `--help` lists every setting,
`weir` with no arguments serves 127.0.0.1:9092 with its data in ./weir-data, WEIR_* environment
variables set what the flags set (and a flag wins), a TOML `--config` file (or WEIR_CONFIG) sets
listen address, data directory, partitions and topic defaults (and the environment or a flag
wins), Ctrl-C (SIGINT) stops the broker cleanly without losing acknowledged data, and retention
runs in the background, deleting closed segments whose records are older than retention.ms.

Where the `make_broker` fixture cannot be used (it always passes --listen and --data-dir), the
broker is started here with subprocess (`running_weir`), always killed at the end, and its log is
held to the same rules as the fixture's: no panic, no WARN or ERROR line."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import ResourceType

from conftest import free_port, weir_bin
from helpers import (
    admin,
    consume_all,
    consumer_conf,
    create_topic,
    describe_configs,
    produce_confluent,
    stored_batches,
    topic_partition_count,
    unique_topic,
    wait_until,
)

DEFAULT_LISTEN = ("127.0.0.1", 9092)
SETTINGS = ["--listen", "--advertised-listener", "--node-id", "--data-dir", "--log-level",
            "--topic-config", "--auto-create-topics", "--num-partitions", "--flush-policy",
            "--max-request-bytes", "--config"]


# ---------------------------------------------------------------------- a broker of our own
def two_free_ports() -> tuple[int, int]:
    a = free_port()
    for _ in range(100):
        b = free_port()
        if b != a:
            return a, b
    raise AssertionError(f"free_port() gave {a} a hundred times")


def clean_env(**extra: str) -> dict:
    """This process's environment without any WEIR_* setting or RUST_LOG (which would override
    --log-level), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_") and k != "RUST_LOG"}
    env.setdefault("RUST_BACKTRACE", "1")
    env.update(extra)
    return env


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def log_problems(log: str) -> list[str]:
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)
    problems = []
    if "panicked at" in log:
        problems.append("weir panicked")
    bad = [line for line in log.splitlines() if re.search(r"\b(WARN|ERROR)\b", line)]
    if bad:
        problems.append(f"weir logged {len(bad)} WARN/ERROR lines, first: {bad[0]}")
    return problems


@contextlib.contextmanager
def running_weir(log_path: Path, args=(), *, cwd: Path, env: dict, serves: tuple[str, int]):
    """Starts `weir *args` in `cwd` with exactly `env`, waits until it accepts connections on
    `serves`, yields the process, and SIGKILLs it at the end if it is still running. Fails the
    test if the broker panicked or logged WARN/ERROR; on a failure its log is printed (pytest
    shows it with the failure)."""
    log_file = open(log_path, "ab", buffering=0)
    proc = subprocess.Popen([weir_bin(), *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=log_file, stderr=log_file)
    ok = False
    try:
        deadline = time.monotonic() + 10
        while not accepts(*serves):
            code = proc.poll()
            assert code is None, f"weir {list(args)} exited with code {code} during start-up"
            assert time.monotonic() < deadline, f"weir {list(args)} did not serve {serves} in 10s"
            time.sleep(0.05)
        yield proc
        ok = True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log_file.close()
        log = log_path.read_text(errors="replace")
        if not ok:
            print(f"----- weir log {log_path} (last 200 lines)\n" + "\n".join(log.splitlines()[-200:]))
    problems = log_problems(log)
    assert not problems, f"{'; '.join(problems)} (log: {log_path})"


def roundtrip(bootstrap: str, topic: str, n: int = 20):
    """Produces n keyed records to partition 0 with acks=all and reads them back."""
    msgs = [(f"k{i}".encode(), f"{topic}-{i}".encode(), None, 0) for i in range(n)]
    reports = produce_confluent(bootstrap, topic, msgs, {"acks": "all"})
    assert [r[0] for r in reports] == [None] * n
    got = consume_all(bootstrap, topic, min_count=n)
    assert [(m.offset(), m.key(), m.value()) for m in got] == [
        (i, k, v) for i, (k, v, _h, _p) in enumerate(msgs)]


def advertised(bootstrap: str) -> list[str]:
    a = admin(bootstrap)
    md = a.list_topics(timeout=10)
    return [f"{b.host}:{b.port}" for b in md.brokers.values()]


def topic_config(bootstrap: str, topic: str, name: str) -> str:
    a = admin(bootstrap)  # kept alive until the future is done
    return describe_configs(a, ResourceType.TOPIC, topic)[name].value


# ---------------------------------------------------------------------- --help
def test_help_lists_every_setting():
    r = subprocess.run([weir_bin(), "--help"], capture_output=True, text=True, timeout=30,
                       env=clean_env())
    assert r.returncode == 0, f"weir --help exited {r.returncode}: {r.stderr}"
    missing = [s for s in SETTINGS if not re.search(rf"(^|\s){re.escape(s)}\b", r.stdout)]
    assert not missing, f"weir --help does not mention {missing}:\n{r.stdout}"
    for env_name in ("WEIR_LISTEN", "WEIR_DATA_DIR", "WEIR_CONFIG"):
        assert env_name in r.stdout, f"weir --help does not name {env_name}"


# ---------------------------------------------------------------------- no arguments
def test_no_arguments_serves_9092_with_data_in_cwd(tmp_path):
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as weir's listener does
    try:
        probe.bind(DEFAULT_LISTEN)
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        pytest.fail("127.0.0.1:9092 is already in use on this machine (a Kafka or weir running?): "
                    "this test needs it free to check weir's default listen address", pytrace=False)
    finally:
        probe.close()

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with running_weir(tmp_path / "weir.log", (), cwd=cwd, env=clean_env(),
                      serves=DEFAULT_LISTEN):
        bootstrap = "127.0.0.1:9092"
        assert (cwd / "weir-data").is_dir(), f"no ./weir-data in {cwd}: {os.listdir(cwd)}"
        assert advertised(bootstrap) == [bootstrap]
        topic = unique_topic("set-default")
        roundtrip(bootstrap, topic)
        assert (cwd / "weir-data" / "logs" / f"{topic}-0").is_dir(), \
            f"partition not under ./weir-data: {sorted(p.name for p in (cwd / 'weir-data').iterdir())}"
    assert sorted(p.name for p in cwd.iterdir()) == ["weir-data"], "weir wrote elsewhere in cwd"


# ---------------------------------------------------------------------- environment
def test_environment_variables_and_flags_win(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env_port, flag_port = two_free_ports()
    env_dir, flag_dir = tmp_path / "env-data", tmp_path / "flag-data"
    env = clean_env(WEIR_LISTEN=f"127.0.0.1:{env_port}", WEIR_DATA_DIR=str(env_dir),
                    WEIR_NUM_PARTITIONS="2")

    # the environment alone
    topic = unique_topic("set-env")
    with running_weir(tmp_path / "weir-env.log", (), cwd=cwd, env=env,
                      serves=("127.0.0.1", env_port)):
        bootstrap = f"127.0.0.1:{env_port}"
        assert advertised(bootstrap) == [bootstrap]
        roundtrip(bootstrap, topic)
        assert topic_partition_count(admin(bootstrap), topic) == 2, "WEIR_NUM_PARTITIONS ignored"
    assert (env_dir / "logs").is_dir(), f"nothing in WEIR_DATA_DIR {env_dir}"
    assert not (cwd / "weir-data").exists(), "WEIR_DATA_DIR ignored: ./weir-data was made"

    # flags beat the same environment
    with running_weir(tmp_path / "weir-flags.log",
                      ("--listen", f"127.0.0.1:{flag_port}", "--data-dir", str(flag_dir),
                       "--num-partitions", "3"),
                      cwd=cwd, env=env, serves=("127.0.0.1", flag_port)):
        bootstrap = f"127.0.0.1:{flag_port}"
        assert not accepts("127.0.0.1", env_port), "listening on WEIR_LISTEN despite --listen"
        assert advertised(bootstrap) == [bootstrap]
        md = admin(bootstrap).list_topics(timeout=10)
        assert topic not in md.topics, "--data-dir ignored: the WEIR_DATA_DIR topic is served"
        topic2 = unique_topic("set-flag")
        roundtrip(bootstrap, topic2)
        assert topic_partition_count(admin(bootstrap), topic2) == 3, "--num-partitions lost"
    assert (flag_dir / "logs" / f"{topic2}-0").is_dir(), f"no partition of {topic2} in {flag_dir}"
    assert not any((env_dir / "logs").glob(f"{topic2}-*")), "wrote to WEIR_DATA_DIR despite --data-dir"


# ---------------------------------------------------------------------- config file
def test_config_file_and_its_overrides(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    file_port, env_port = two_free_ports()
    data_dir = tmp_path / "file-data"
    cfg = tmp_path / "weir.toml"
    cfg.write_text(
        f'listen = "127.0.0.1:{file_port}"\n'
        f'data_dir = "{data_dir}"\n'
        'num_partitions = 3\n'
        'log_level = "info"\n'
        '\n'
        '[topic_defaults]\n'
        '"retention.ms" = "3600000"\n'
        '"max.message.bytes" = "500000"\n'
    )

    topic = unique_topic("set-file")
    with running_weir(tmp_path / "weir-file.log", ("--config", str(cfg)), cwd=cwd,
                      env=clean_env(), serves=("127.0.0.1", file_port)):
        bootstrap = f"127.0.0.1:{file_port}"
        roundtrip(bootstrap, topic)
        assert topic_partition_count(admin(bootstrap), topic) == 3, "num_partitions of the file"
        assert topic_config(bootstrap, topic, "retention.ms") == "3600000"
        assert topic_config(bootstrap, topic, "max.message.bytes") == "500000"
        # the topic default is enforced, not only described
        reports = produce_confluent(bootstrap, topic, [(None, b"x" * 600_000, None, 0)],
                                    {"acks": "all", "message.max.bytes": 2_000_000,
                                     "message.timeout.ms": 10000})
        assert reports[0][0] is not None, reports
        assert reports[0][0].code() == KafkaError.MSG_SIZE_TOO_LARGE, reports
    assert (data_dir / "logs" / f"{topic}-0").is_dir(), f"no partition of {topic} in {data_dir}"
    assert not (cwd / "weir-data").exists()

    # WEIR_CONFIG names the same file; the environment beats it, and a flag beats both
    env = clean_env(WEIR_CONFIG=str(cfg), WEIR_LISTEN=f"127.0.0.1:{env_port}",
                    WEIR_NUM_PARTITIONS="2")
    with running_weir(tmp_path / "weir-env.log", ("--topic-config", "retention.ms=7200000"),
                      cwd=cwd, env=env, serves=("127.0.0.1", env_port)):
        bootstrap = f"127.0.0.1:{env_port}"
        assert not accepts("127.0.0.1", file_port), "listening on the file's address"
        assert advertised(bootstrap) == [bootstrap]
        # same data directory (from the file): the first topic and its records are there
        got = consume_all(bootstrap, topic, partitions=(0, 1, 2), min_count=20)
        assert sorted(m.value() for m in got) == sorted(f"{topic}-{i}".encode() for i in range(20))
        topic2 = unique_topic("set-file-env")
        roundtrip(bootstrap, topic2)
        assert topic_partition_count(admin(bootstrap), topic2) == 2, "WEIR_NUM_PARTITIONS lost"
        assert topic_config(bootstrap, topic2, "retention.ms") == "7200000", "--topic-config lost"


# ---------------------------------------------------------------------- Ctrl-C
def test_sigint_stops_cleanly_and_keeps_acked_data(make_broker):
    b = make_broker()
    topic = unique_topic("set-sigint")
    create_topic(b.bootstrap, topic, partitions=2)
    msgs = [(f"k{i}".encode(), f"v{i}".encode(), None, i % 2) for i in range(200)]
    reports = produce_confluent(b.bootstrap, topic, msgs, {"acks": "1"})
    assert [r[0] for r in reports] == [None] * 200

    b.expected_down = True
    b.proc.send_signal(signal.SIGINT)
    try:
        code = b.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError("weir did not exit within 15s of SIGINT") from None
    assert code == 0, f"weir exited {code} on SIGINT"
    assert not accepts(b.host, b.port), "still listening after SIGINT"

    b.start()
    got = consume_all(b.bootstrap, topic, partitions=(0, 1), min_count=200)
    assert sorted((m.partition(), m.offset(), m.value()) for m in got) == sorted(
        (i % 2, i // 2, f"v{i}".encode()) for i in range(200))
    # and it takes writes again after the restart
    reports = produce_confluent(b.bootstrap, topic, [(None, b"after", None, 0)], {"acks": "1"})
    assert [(r[0], r[1], r[2]) for r in reports] == [(None, 0, 100)]


# ---------------------------------------------------------------------- retention
def test_retention_runs_in_the_background(make_broker):
    """Closed segments whose records are all older than retention.ms are deleted by the periodic
    retention pass (--retention-check-interval-ms), moving the log start offset; segments with
    newer records stay."""
    b = make_broker("--retention-check-interval-ms", "500")
    topic = unique_topic("set-retention")
    # segment.bytes small enough that every batch of 10 records below (~1 KiB) rolls a segment
    create_topic(b.bootstrap, topic, config={"retention.ms": "600000", "segment.bytes": "1024"})
    from confluent_kafka import Producer

    now = int(time.time() * 1000)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 1000})
    errs = []
    for i in range(60):
        old = i < 30
        p.produce(topic, value=(f"{i:03d}-" + ("old" if old else "new") * 25).encode(),
                  timestamp=now - 3_600_000 if old else now,  # an hour old: past retention.ms
                  on_delivery=lambda e, m: errs.append(e))
        if i % 10 == 9:
            assert p.flush(10) == 0
    assert errs == [None] * 60

    c = Consumer(consumer_conf(b.bootstrap))
    try:
        tp = TopicPartition(topic, 0)

        def watermarks_past_old_data():
            low, high = c.get_watermark_offsets(tp, timeout=10)
            return (low, high) if low >= 30 else None

        low, high = wait_until(watermarks_past_old_data, 30, interval=0.25,
                               what="retention to delete the segments of old records")
    finally:
        c.close()
    assert (low, high) == (30, 60), "retention deleted a segment with records newer than retention.ms"
    got = consume_all(b.bootstrap, topic, min_count=30)
    assert [m.offset() for m in got] == list(range(30, 60))
    assert all(m.value().endswith(b"new") for m in got)
    assert [off for off, _c, _n in stored_batches(b.data_dir, topic)] == [30, 40, 50]
    # one segment per batch (segment.bytes), the three with old records gone
    assert sorted(p.name for p in (b.data_dir / "logs" / f"{topic}-0").glob("*.log")) == [
        f"{off:020d}.log" for off in (30, 40, 50)]


def test_segment_ms_rolls_at_append(make_broker):
    """segment.ms: an append to a segment older than segment.ms starts a new segment file."""
    b = make_broker()
    topic = unique_topic("set-segms")
    create_topic(b.bootstrap, topic, config={"segment.ms": "300"})
    # each produce_confluent call below is one batch (all records queued within linger.ms),
    # so one append: only the time between the two calls can roll the segment
    pdir = b.data_dir / "logs" / f"{topic}-0"

    def produce(values):
        reports = produce_confluent(b.bootstrap, topic, [(None, v) for v in values],
                                    {"acks": "all", "linger.ms": 50})
        assert [r[0] for r in reports] == [None] * len(values)

    produce([b"a0", b"a1", b"a2"])
    assert sorted(p.name for p in pdir.glob("*.log")) == ["00000000000000000000.log"]
    time.sleep(1.0)  # well past segment.ms
    produce([b"b0", b"b1"])
    assert sorted(p.name for p in pdir.glob("*.log")) == [
        "00000000000000000000.log", "00000000000000000003.log"]
    got = consume_all(b.bootstrap, topic, min_count=5)
    assert [m.value() for m in got] == [b"a0", b"a1", b"a2", b"b0", b"b1"]
