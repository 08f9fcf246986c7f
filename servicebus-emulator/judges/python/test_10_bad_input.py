"""Behaviour 10: bad input. An unknown queue is refused (this SDK reports
ServiceBusAuthenticationError, as Microsoft's live tests assert for the real service — see the test); a message over
256 KiB gives MessageSizeExceededError; raw TCP clients sending garbage do not hurt the broker
(a real SDK client still works afterwards); a client killed in the middle of a PeekLock receive
(messages unsettled) loses nothing: its messages come back once their lock expires.

https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas (256 KB Standard)
https://learn.microsoft.com/azure/service-bus-messaging/service-bus-messaging-exceptions
https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement
"""

import os
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode
from azure.servicebus.exceptions import (
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
)

from conftest import body_of, drain


def test_unknown_queue_sender_and_receiver(broker):
    """With a namespace SAS key, the real service refuses the CBS put-token for an entity that does
    not exist, so this SDK reports ServiceBusAuthenticationError, not MessagingEntityNotFoundError:
    Microsoft's own live test asserts exactly that (azure-sdk-for-python,
    sdk/servicebus/azure-servicebus/tests/test_sb_client.py::test_sb_client_bad_entity).
    A broker that accepts the token and then detaches with amqp:not-found surfaces as
    MessagingEntityNotFoundError; either way the client must get an error, fast, and nothing is
    stored."""
    not_there = (ServiceBusAuthenticationError, MessagingEntityNotFoundError)
    with broker.client(retry_total=0) as sb:
        started = time.monotonic()
        with pytest.raises(ServiceBusAuthenticationError):
            with sb.get_queue_sender("no-such-queue") as s:
                s.send_messages(ServiceBusMessage(b"x"))
        with pytest.raises(ServiceBusAuthenticationError):
            with sb.get_queue_receiver("no-such-queue", max_wait_time=3) as r:
                r.receive_messages(max_message_count=1, max_wait_time=3)
        with pytest.raises(ServiceBusAuthenticationError):
            with sb.get_topic_sender("no-such-topic") as s:
                s.send_messages(ServiceBusMessage(b"x"))
        with pytest.raises(not_there):
            with sb.get_subscription_receiver("t1", "no-such-sub", max_wait_time=3) as r:
                r.receive_messages(max_message_count=1, max_wait_time=3)
        assert time.monotonic() - started < 20
    # the known queue still works on a fresh client
    with broker.client() as sb:
        with sb.get_queue_sender("qlong") as s:
            s.send_messages(ServiceBusMessage(b"fine"))


def test_message_over_256_kib_is_refused(broker):
    with broker.client(retry_total=0) as sb:
        with sb.get_queue_sender("qlong") as s:
            with pytest.raises(MessageSizeExceededError):
                s.send_messages(ServiceBusMessage(b"x" * (300 * 1024)))
        # a message under the limit on a new link is fine, and the big one was not stored
        with sb.get_queue_sender("qlong") as s:
            s.send_messages(ServiceBusMessage(b"y" * (200 * 1024)))
        with sb.get_queue_receiver("qlong", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
            got = drain(r, max_wait_time=3)
        assert [len(body_of(m)) for m in got] == [200 * 1024]


def test_sender_link_advertises_max_message_size(broker):
    with broker.client() as sb, sb.get_queue_sender("qlong") as s:
        batch = s.create_message_batch()
        # the attach's max-message-size is the namespace limit (256 KiB by default) ...
        assert s._max_message_size_on_link == 256 * 1024
        # ... from which the SDK sizes batches
        assert batch.max_size_in_bytes == 256 * 1024


def _raw(port, payload: bytes, read: bool = True, linger: float = 0.2):
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        try:
            s.sendall(payload)
            if read:
                s.settimeout(1.0)
                try:
                    s.recv(4096)
                except (socket.timeout, ConnectionError):
                    pass
            time.sleep(linger)
        except (BrokenPipeError, ConnectionResetError):
            pass


def test_garbage_tcp_clients_do_not_break_the_broker(broker):
    port = broker.port
    sasl_hdr = b"AMQP\x03\x01\x00\x00"
    amqp_hdr = b"AMQP\x00\x01\x00\x00"
    cases = [
        os.urandom(1024),
        b"\x00" * 64,
        b"AMQP\x09\x09\x09\x09" + os.urandom(64),  # unknown protocol id / version
        sasl_hdr + os.urandom(256),  # garbage after the SASL header
        sasl_hdr + struct.pack(">IBBH", 0xFFFFFFF0, 2, 1, 0),  # absurd frame size
        amqp_hdr + struct.pack(">IBBH", 8, 2, 0, 0),  # AMQP without SASL, then an empty frame
        amqp_hdr + struct.pack(">IBBH", 40, 2, 0, 0) + b"\x00\x53\x10\xc0\xff\xff" + os.urandom(26),  # bad open
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc",  # lying HTTP
        b"PUT /q-garbage HTTP/1.1\r\nContent-Length: 5\r\n\r\n<<<<<",  # unauthenticated, bad XML
    ]
    for payload in cases:
        _raw(port, payload)
    # connections that say nothing, or half a header, and stay open while a real client works
    idle = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(3)]
    idle[1].sendall(b"AMQ")
    idle[2].sendall(sasl_hdr)
    try:
        assert broker.proc.poll() is None, "broker died on garbage input"
        with broker.client() as sb:
            with sb.get_queue_sender("qlong") as s:
                s.send_messages([ServiceBusMessage(f"ok{i}") for i in range(3)])
            with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
                got = drain(r, expect=3)
            assert sorted(body_of(m) for m in got) == [b"ok0", b"ok1", b"ok2"]
    finally:
        for s in idle:
            s.close()
    assert broker.proc.poll() is None


_CRASHER = textwrap.dedent(
    """
    import os, sys, time
    from azure.servicebus import ServiceBusClient
    conn, queue, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sb = ServiceBusClient.from_connection_string(conn)
    r = sb.get_queue_receiver(queue, max_wait_time=10)
    held = []
    while len(held) < n:
        held += r.receive_messages(max_message_count=n - len(held), max_wait_time=10)
    print("HELD " + " ".join(str(m.sequence_number) for m in held), flush=True)
    time.sleep(600)  # killed here, nothing settled
    """
)


def test_client_killed_mid_receive_loses_nothing(broker):
    total, held_n = 10, 4
    with broker.client() as sb, sb.get_queue_sender("q1") as s:  # q1: 5 s lock
        s.send_messages([ServiceBusMessage(f"k{i}") for i in range(total)])
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, broker.conn_str, "q1", str(held_n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("HELD "), (line, proc.stderr.read() if proc.poll() is not None else "")
        held = {int(x) for x in line.split()[1:]}
        assert len(held) == held_n
        killed_at = time.monotonic()
    finally:
        proc.kill()
        proc.wait(10)

    seen = {}
    with broker.client() as sb, sb.get_queue_receiver("q1", max_wait_time=3) as r:
        deadline = killed_at + 20  # 5 s lock + generous margin
        while len(seen) < total and time.monotonic() < deadline:
            for m in r.receive_messages(max_message_count=total, max_wait_time=2):
                assert m.sequence_number not in seen, "duplicate delivery to the surviving receiver"
                seen[m.sequence_number] = m
                r.complete_message(m)
    assert len(seen) == total, f"{total - len(seen)} lost; held by the killed client: {sorted(held)}"
    assert sorted(body_of(m) for m in seen.values()) == sorted(f"k{i}".encode() for i in range(total))
    for seq, m in seen.items():
        # a delivery whose lock ran out counts as a delivery attempt
        assert m.delivery_count == (1 if seq in held else 0), (seq, m.delivery_count)


def test_configured_max_message_size_is_enforced(broker_factory):
    """Config extension: namespace MaxMessageSizeInKilobytes (64 here). The sender link's attach
    advertises it as max-message-size and a bigger message is refused with
    MessageSizeExceededError."""
    import copy

    from conftest import DEFAULT_CONFIG

    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg["UserConfig"]["Namespaces"][0]["MaxMessageSizeInKilobytes"] = 64
    b = broker_factory(cfg)
    with b.client(retry_total=0) as sb:
        with sb.get_queue_sender("qlong") as s:
            s.create_message_batch()  # opens the link
            # the attach's max-message-size (the SDK keeps it in _max_message_size_on_link)
            assert s._max_message_size_on_link == 64 * 1024
            with pytest.raises(MessageSizeExceededError):
                s.send_messages(ServiceBusMessage(b"x" * (100 * 1024)))
        with sb.get_queue_sender("qlong") as s:
            s.send_messages(ServiceBusMessage(b"y" * (32 * 1024)))
        with sb.get_queue_receiver("qlong", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
            got = drain(r, max_wait_time=3)
        assert [len(body_of(m)) for m in got] == [32 * 1024]
