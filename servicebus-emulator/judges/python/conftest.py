"""Fixtures for the Python judge: each test drives Microsoft's `azure-servicebus` SDK (7.15, the
pure-Python `_pyamqp` stack) against a PRIVATE servicebus-emulator process.

The broker binary is `$STRATA_SERVICEBUS_BIN` (default: target/debug/servicebus-emulator in this
repository). It is started as `servicebus-emulator --config FILE --port N --host 127.0.0.1
[--data-dir DIR]` and is ready when it prints `servicebus-emulator listening on 127.0.0.1:N`.
Its stderr goes to a file that is printed when a test fails. `STRATA_SERVICEBUS_LOG` (if set in
the environment) is passed through to the broker.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from azure.core.pipeline.transport import RequestsTransport
from azure.servicebus import ServiceBusClient, ServiceBusReceiveMode
from azure.servicebus.management import ServiceBusAdministrationClient

REPO = Path(__file__).resolve().parents[3]
DEFAULT_BIN = REPO / "target" / "debug" / "servicebus-emulator"
SAS_KEY_NAME = "RootManageSharedAccessKey"
SAS_KEY = "SAS_KEY_VALUE"
READY_TIMEOUT = 10.0
# Every test is bounded so that a broker that never answers fails the test instead of hanging.
TEST_TIMEOUT = int(os.environ.get("STRATA_SB_JUDGE_TEST_TIMEOUT", "120"))

LOCK = "PT5S"  # lock duration of the short-lock entities


def _queue(name, **props):
    base = {
        "LockDuration": LOCK,
        "MaxDeliveryCount": 3,
        "RequiresSession": False,
        "DefaultMessageTimeToLive": "PT1H",
        "DeadLetteringOnMessageExpiration": True,
    }
    base.update(props)
    return {"Name": name, "Properties": base}


def _sub(name, **props):
    base = {"LockDuration": LOCK, "MaxDeliveryCount": 3, "RequiresSession": False}
    base.update(props)
    return {"Name": name, "Properties": base}


DEFAULT_CONFIG = {
    "UserConfig": {
        "Namespaces": [
            {
                "Name": "sbemulatorns",
                "Queues": [
                    # the queue of the brief: 5 s lock, 3 deliveries, dead-letter on expiry
                    _queue("q1"),
                    # long lock for tests that must not see a lock expire
                    _queue("qlong", LockDuration="PT1M", MaxDeliveryCount=10),
                    # expired messages are dropped, not dead-lettered
                    _queue("qnodlx", DeadLetteringOnMessageExpiration=False),
                    # sessions
                    _queue("qsess", RequiresSession=True, LockDuration="PT10S", MaxDeliveryCount=10),
                    # for the competing-consumers / prefetch / durability tests
                    _queue("qwork", LockDuration="PT30S", MaxDeliveryCount=10),
                ],
                "Topics": [
                    {
                        "Name": "t1",
                        "Properties": {"DefaultMessageTimeToLive": "PT1H"},
                        "Subscriptions": [_sub("s1"), _sub("s2")],
                    }
                ],
            }
        ],
        "Logging": {"Type": "Console"},
    }
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def conn_str(port: int, key: str = SAS_KEY, key_name: str = SAS_KEY_NAME) -> str:
    return (
        f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName={key_name};"
        f"SharedAccessKey={key};UseDevelopmentEmulator=true"
    )


class Broker:
    """One servicebus-emulator process (restartable on the same port and data dir)."""

    def __init__(self, workdir: Path, config: dict, data_dir: Path | None = None):
        self.bin = os.environ.get("STRATA_SERVICEBUS_BIN", str(DEFAULT_BIN))
        self.workdir = workdir
        self.config_path = workdir / "Config.json"
        self.config_path.write_text(json.dumps(config, indent=2))
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.stderr_paths: list[Path] = []

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "Broker":
        if not Path(self.bin).exists():
            raise RuntimeError(
                f"broker binary {self.bin} does not exist (build the servicebus-emulator crate or "
                "set STRATA_SERVICEBUS_BIN)"
            )
        self.starts += 1
        err_path = self.workdir / f"broker-stderr-{self.starts}.log"
        self.stderr_paths.append(err_path)
        args = [self.bin, "--config", str(self.config_path), "--port", str(self.port), "--host", "127.0.0.1"]
        if self.data_dir is not None:
            args += ["--data-dir", str(self.data_dir)]
        err = open(err_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        err.close()
        ready = threading.Event()
        self.stdout_lines: list[str] = []
        want = f"servicebus-emulator listening on 127.0.0.1:{self.port}"

        def pump(stream, lines):
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip("\n")
                lines.append(line)
                if want in line:
                    ready.set()

        threading.Thread(target=pump, args=(self.proc.stdout, self.stdout_lines), daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.is_set():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"broker exited with {self.proc.returncode} before it was ready\n" + self.diagnostics()
                )
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"broker did not print '{want}' within {READY_TIMEOUT}s\n" + self.diagnostics())
            ready.wait(0.05)
        return self

    def kill(self):
        """SIGKILL: no chance to flush anything that was not already durable."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def restart(self, kill: bool = True) -> "Broker":
        self.kill() if kill else self.stop()
        return self.start()

    # -- clients ---------------------------------------------------------------------------
    @property
    def conn_str(self) -> str:
        return conn_str(self.port)

    def client(self, key: str = SAS_KEY, key_name: str = SAS_KEY_NAME, **kw) -> ServiceBusClient:
        kw.setdefault("retry_total", 1)
        kw.setdefault("retry_backoff_factor", 0.2)
        kw.setdefault("logging_enable", os.environ.get("STRATA_SB_JUDGE_SDK_TRACE") == "1")
        return ServiceBusClient.from_connection_string(conn_str(self.port, key, key_name), **kw)

    def admin(self, **kw) -> ServiceBusAdministrationClient:
        # azure-servicebus 7.15 hard-codes https:// for the administration client even with
        # UseDevelopmentEmulator=true (it sets use_tls=False but nothing reads it); the broker's
        # management API is plain HTTP on the AMQP port, so the scheme is rewritten here.
        kw.setdefault("retry_total", 0)
        return ServiceBusAdministrationClient.from_connection_string(self.conn_str, transport=_PlainHttp(), **kw)

    def diagnostics(self, tail: int = 200) -> str:
        out = [f"--- broker {self.bin} port {self.port} data_dir {self.data_dir}"]
        out += ["--- stdout:"] + getattr(self, "stdout_lines", [])[-tail:]
        for p in self.stderr_paths:
            try:
                lines = p.read_text(errors="replace").splitlines()
            except OSError:
                lines = []
            out += [f"--- {p.name} (last {tail} lines):"] + lines[-tail:]
        return "\n".join(out)


class _PlainHttp(RequestsTransport):
    def send(self, request, **kwargs):
        if request.url.startswith("https://"):
            request.url = "http://" + request.url[len("https://"):]
        return super().send(request, **kwargs)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request) -> bool:
    return any(getattr(request.node, "rep_" + w, None) is not None and getattr(request.node, "rep_" + w).failed
               for w in ("setup", "call"))


@pytest.fixture(autouse=True)
def _bounded_test():
    """Fail (instead of hanging) a test that runs longer than TEST_TIMEOUT seconds."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIMEOUT}s (STRATA_SB_JUDGE_TEST_TIMEOUT)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def broker_factory(tmp_path, request):
    """broker_factory(config=None, data_dir=None) -> started Broker; all are killed at teardown."""
    brokers: list[Broker] = []

    def make(config: dict | None = None, data_dir: Path | None = None) -> Broker:
        wd = tmp_path / f"broker{len(brokers)}"
        wd.mkdir()
        b = Broker(wd, copy.deepcopy(config or DEFAULT_CONFIG), data_dir)
        brokers.append(b)
        return b.start()

    yield make
    failed = _failed(request)
    for b in brokers:
        b.kill()
        if failed:
            print(b.diagnostics())


@pytest.fixture
def broker(broker_factory) -> Broker:
    return broker_factory()


@pytest.fixture
def sb(broker):
    with broker.client() as c:
        yield c


# -- helpers used by the tests ---------------------------------------------------------------

def body_of(msg) -> bytes:
    return b"".join(msg.body)


def drain(receiver, expect: int | None = None, max_wait_time: float = 3, rounds: int = 50, complete: bool = True):
    """Receive until `expect` messages were got (or nothing arrives for max_wait_time)."""
    got = []
    for _ in range(rounds):
        want = 50 if expect is None else max(1, min(50, expect - len(got)))
        batch = receiver.receive_messages(max_message_count=want, max_wait_time=max_wait_time)
        if not batch:
            break
        for m in batch:
            if complete and receiver._receive_mode == ServiceBusReceiveMode.PEEK_LOCK:
                receiver.complete_message(m)
            got.append(m)
        if expect is not None and len(got) >= expect:
            break
    return got
