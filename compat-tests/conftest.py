"""Fixtures that run a real `weir` broker process for the compat tests.

`broker` starts a fresh single-node broker per test (it starts in milliseconds) on a free
127.0.0.1 port with its own data directory. `make_broker(*extra_args)` starts one with extra
flags (e.g. `--auto-create-topics false`). Brokers are always SIGKILLed at teardown, and when a
test fails the tail of every broker log it used is attached to the report.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

READY_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 300


def weir_bin() -> str:
    path = os.environ.get("WEIR_BIN") or os.path.expanduser("~/.cache/weir/target/release/weir")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"weir binary not found at {path}: build it with `cargo build --release -p weir-broker` "
            "(CARGO_TARGET_DIR=$HOME/.cache/weir/target) or set WEIR_BIN",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One `weir` process; restartable on the same port and data directory."""

    def __init__(self, workdir: Path, extra_args: tuple[str, ...] = (), name: str = "weir"):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{name}.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.bootstrap = f"{self.host}:{self.port}"
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.expected_down = True
        self._log_file = None

    # ------------------------------------------------------------------ lifecycle
    def command(self) -> list[str]:
        return [
            weir_bin(),
            "--listen", self.bootstrap,
            "--data-dir", str(self.data_dir),
            "--log-level", os.environ.get("WEIR_TEST_LOG_LEVEL", "info"),
            *self.extra_args,
        ]

    def start(self) -> "Broker":
        assert not self.alive(), "broker already running"
        self.starts += 1
        if self._log_file is None:
            self._log_file = open(self.log_path, "ab", buffering=0)
        self._log_file.write(
            f"\n===== compat-tests: start #{self.starts}: {' '.join(self.command())}\n".encode()
        )
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
            cwd=self.workdir,
            env=env,
        )
        self.expected_down = False
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last_err = None
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"weir exited with code {code} during start-up; log:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError as e:
                # keep the text, not the exception: its traceback (a reference cycle) would keep
                # the calling test's frame, and so its Kafka clients, alive after the test
                last_err = str(e)
                time.sleep(0.05)
        raise RuntimeError(
            f"weir did not accept connections on {self.bootstrap} within {READY_TIMEOUT_S}s "
            f"({last_err}); log:\n{self.log_tail()}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, like a crash or `kill -9`."""
        self.expected_down = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait for a clean exit (SIGKILL if it does not come)."""
        self.expected_down = True
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError(f"weir did not exit within {timeout}s of SIGTERM")
        return self.proc.returncode

    def restart(self) -> "Broker":
        if self.alive():
            self.stop()
        return self.start()

    def close(self) -> None:
        try:
            self.kill()
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    # ------------------------------------------------------------------ logs
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        text = re.sub(r"\x1b\[[0-9;]*m", "", self.log_text())  # drop colour codes, if any
        return "\n".join(text.splitlines()[-lines:])

    def __repr__(self) -> str:
        return f"Broker({self.bootstrap}, data_dir={self.data_dir})"


# ---------------------------------------------------------------------- fixtures
@pytest.fixture
def make_broker(request, tmp_path):
    """Factory: make_broker(*extra_args) -> a started Broker (killed at teardown)."""
    brokers: list[Broker] = []
    request.node._weir_brokers = brokers

    def _make(*extra_args: str) -> Broker:
        b = Broker(tmp_path / f"broker{len(brokers)}", tuple(extra_args), name="weir")
        brokers.append(b)
        return b.start()

    yield _make
    problems = []
    for b in brokers:
        if not b.expected_down and not b.alive():
            problems.append(f"{b} exited unexpectedly with code {b.proc.returncode}")
        b.close()
        log = re.sub(r"\x1b\[[0-9;]*m", "", b.log_text())
        if "panicked at" in log:
            problems.append(f"{b} panicked (see its log)")
        if request.node.get_closest_marker("broker_warnings_ok") is None:
            # Well-behaved clients doing supported things must not make the broker complain
            # (e.g. about a request it could not parse, or an API it does not have).
            bad = [line for line in log.splitlines() if re.search(r"\b(WARN|ERROR)\b", line)]
            if bad:
                problems.append(f"{b} logged {len(bad)} WARN/ERROR lines, first: {bad[0]}")
    call_failed = getattr(request.node, "_weir_call_failed", False)
    if problems and not call_failed:  # a failed test already reports the log
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def broker(make_broker) -> Broker:
    """A fresh single-node broker with default settings."""
    return make_broker()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        item._weir_call_failed = True
    if rep.failed:
        for b in getattr(item, "_weir_brokers", []):
            state = "alive" if b.alive() else f"exited ({b.proc.returncode if b.proc else 'never started'})"
            rep.sections.append(
                (
                    f"weir log {b.bootstrap} [{state}] {b.log_path} (last {LOG_TAIL_LINES} lines)",
                    b.log_tail(),
                )
            )
