"""Behaviour 6: sessions. A session receiver (NEXT_AVAILABLE_SESSION or a named session) gets the
messages of exactly one session, in order; session state get/set; renew_lock on the session;
a second receiver cannot take a session that is locked (SessionCannotBeLockedError for a named
session — or OperationTimeoutError when the SDK gives up first).

https://learn.microsoft.com/azure/service-bus-messaging/message-sessions
"""

import datetime
import time

import pytest
from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusMessage
from azure.servicebus.exceptions import OperationTimeoutError, ServiceBusError, SessionCannotBeLockedError

from conftest import body_of, drain

UTC = datetime.timezone.utc


def _now():
    return datetime.datetime.now(UTC)


def _send_interleaved(sb, sessions=("A", "B"), n=3):
    with sb.get_queue_sender("qsess") as s:
        for i in range(n):
            for sid in sessions:
                s.send_messages(ServiceBusMessage(f"{sid}{i}", session_id=sid))


def test_next_available_session_gets_one_session_in_order(sb):
    _send_interleaved(sb)
    with sb.get_queue_receiver("qsess", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=5) as r:
        msgs = drain(r, expect=3, max_wait_time=3)
        sid = r.session.session_id
        assert sid in ("A", "B"), sid
        assert [body_of(m) for m in msgs] == [f"{sid}{i}".encode() for i in range(3)]
        assert all(m.session_id == sid for m in msgs)
        seqs = [m.sequence_number for m in msgs]
        assert seqs == sorted(seqs)
        # nothing of the other session comes through this receiver
        assert r.receive_messages(max_message_count=5, max_wait_time=2) == []
    other = "B" if sid == "A" else "A"
    with sb.get_queue_receiver("qsess", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=5) as r:
        msgs = drain(r, expect=3, max_wait_time=3)
        assert r.session.session_id == other
        assert [body_of(m) for m in msgs] == [f"{other}{i}".encode() for i in range(3)]


def test_named_session_receiver_gets_only_that_session_in_order(sb):
    _send_interleaved(sb, sessions=("A", "B", "C"), n=4)
    with sb.get_queue_receiver("qsess", session_id="B", max_wait_time=5) as r:
        msgs = drain(r, expect=4, max_wait_time=3)
        assert r.session.session_id == "B"
        assert [body_of(m) for m in msgs] == [b"B0", b"B1", b"B2", b"B3"]
        assert r.receive_messages(max_message_count=5, max_wait_time=2) == []
    # A and C untouched
    for sid in ("A", "C"):
        with sb.get_queue_receiver("qsess", session_id=sid, max_wait_time=5) as r:
            assert len(drain(r, expect=4, max_wait_time=3)) == 4


def test_session_state_get_and_set(sb):
    with sb.get_queue_sender("qsess") as s:
        s.send_messages(ServiceBusMessage(b"x", session_id="stateful"))
    with sb.get_queue_receiver("qsess", session_id="stateful", max_wait_time=5) as r:
        assert r.session.get_state() is None
        r.session.set_state("step-1")
        assert r.session.get_state() == b"step-1"
        r.session.set_state(b"\x00binary\xff")
        assert r.session.get_state() == b"\x00binary\xff"
    # the state outlives the receiver (it belongs to the session)
    with sb.get_queue_receiver("qsess", session_id="stateful", max_wait_time=5) as r:
        assert r.session.get_state() == b"\x00binary\xff"
        r.session.set_state(None)
        assert r.session.get_state() is None
        drain(r, expect=1)


def test_renew_session_lock(sb):
    with sb.get_queue_sender("qsess") as s:
        s.send_messages(ServiceBusMessage(b"keep", session_id="renew-me"))
    with sb.get_queue_receiver("qsess", session_id="renew-me", max_wait_time=5) as r:
        [m] = r.receive_messages(max_message_count=1, max_wait_time=5)
        first = r.session.locked_until_utc
        assert first is not None, "attach reply lacked com.microsoft:locked-until-utc"
        left = (first - _now()).total_seconds()
        assert 5 < left <= 11, left  # qsess LockDuration PT10S
        time.sleep(2)
        renewed = r.session.renew_lock()
        assert renewed > first
        assert r.session.locked_until_utc == renewed
        assert (renewed - _now()).total_seconds() > 7
        r.complete_message(m)


def test_session_lock_expires_and_session_becomes_available(sb):
    with sb.get_queue_sender("qsess") as s:
        s.send_messages(ServiceBusMessage(b"abandoned-by-holder", session_id="lapse"))
    holder = sb.get_queue_receiver("qsess", session_id="lapse", max_wait_time=5)
    try:
        [m] = holder.receive_messages(max_message_count=1, max_wait_time=5)
        assert body_of(m) == b"abandoned-by-holder"
        time.sleep(11.5)  # PT10S session lock, not renewed
        with sb.get_queue_receiver("qsess", session_id="lapse", max_wait_time=5) as r:
            [again] = r.receive_messages(max_message_count=1, max_wait_time=5)
            assert body_of(again) == b"abandoned-by-holder"
            r.complete_message(again)
    finally:
        holder.close()


def test_second_receiver_cannot_take_a_locked_session(broker):
    with broker.client() as sb:
        with sb.get_queue_sender("qsess") as s:
            s.send_messages([ServiceBusMessage(f"L{i}", session_id="locked") for i in range(3)])
        holder = sb.get_queue_receiver("qsess", session_id="locked", max_wait_time=5)
        try:
            first = holder.receive_messages(max_message_count=1, max_wait_time=5)
            assert len(first) == 1
            with broker.client(retry_total=0) as sb2:
                started = time.monotonic()
                with pytest.raises((SessionCannotBeLockedError, OperationTimeoutError)):
                    with sb2.get_queue_receiver("qsess", session_id="locked", max_wait_time=5) as intruder:
                        got = intruder.receive_messages(max_message_count=3, max_wait_time=5)
                        # if the SDK did not raise, it must at least not have been given anything
                        assert got == [], [body_of(x) for x in got]
                        raise OperationTimeoutError(message="received nothing (treated as refused)")
                assert time.monotonic() - started < 30
                holder.session.renew_lock()  # PT10S: keep the holder's lock while we probe
                # NEXT_AVAILABLE must not hand out the locked session either
                try:
                    with sb2.get_queue_receiver(
                        "qsess", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=3
                    ) as intruder:
                        got = intruder.receive_messages(max_message_count=3, max_wait_time=3)
                        assert got == [], [body_of(x) for x in got]
                except (OperationTimeoutError, SessionCannotBeLockedError):
                    pass
                holder.session.renew_lock()
            # the holder still owns it and gets the rest in order
            rest = drain(holder, expect=2, max_wait_time=3, complete=True)
            holder.complete_message(first[0])
            assert [body_of(m) for m in first + rest] == [b"L0", b"L1", b"L2"]
        finally:
            holder.close()


def test_session_entity_refuses_messages_without_session_id(sb):
    """https://learn.microsoft.com/azure/service-bus-messaging/message-sessions: "If sessions are
    enabled on a queue or subscription, the client applications can no longer send/receive
    regular messages. All messages must be sent as part of a session (by setting the session ID)
    and received by accepting the session." """
    with sb.get_queue_sender("qsess") as s:
        with pytest.raises(ServiceBusError):
            s.send_messages(ServiceBusMessage(b"no-session-id"))
    with sb.get_queue_receiver("qsess", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=2) as r:
        try:
            got = r.receive_messages(max_message_count=1, max_wait_time=2)
        except OperationTimeoutError:
            got = []
        assert got == []


def test_session_entity_refuses_a_non_session_receiver(broker):
    """A session-enabled queue cannot be read without a session receiver (the service refuses the
    link: 'It is not possible for an entity that requires sessions to create a non-sessionful
    message receiver')."""
    with broker.client() as sb, sb.get_queue_sender("qsess") as s:
        s.send_messages(ServiceBusMessage(b"for-sessions-only", session_id="S"))
    with broker.client(retry_total=0) as sb:
        with pytest.raises(ServiceBusError):
            with sb.get_queue_receiver("qsess", max_wait_time=3) as r:
                got = r.receive_messages(max_message_count=1, max_wait_time=3)
                raise AssertionError(f"a plain receiver got {[body_of(m) for m in got]} from a session queue")


def test_peek_on_a_session_receiver_shows_only_that_session(sb):
    _send_interleaved(sb, sessions=("P", "Q"), n=2)
    with sb.get_queue_receiver("qsess", session_id="Q", max_wait_time=5) as r:
        peeked = r.peek_messages(max_message_count=10)
        assert [body_of(p) for p in peeked] == [b"Q0", b"Q1"]
        assert all(p.session_id == "Q" for p in peeked)


def test_concurrent_next_available_receivers_get_distinct_sessions(broker):
    import threading

    sessions = ["c1", "c2", "c3"]
    with broker.client() as sb, sb.get_queue_sender("qsess") as s:
        for i in range(3):
            s.send_messages([ServiceBusMessage(f"{sid}-{i}", session_id=sid) for sid in sessions])
    got, errors = {}, []

    def work(k):
        try:
            with broker.client() as c, c.get_queue_receiver(
                "qsess", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=10
            ) as r:
                msgs = drain(r, expect=3, max_wait_time=3)
                got[k] = (r.session.session_id, [body_of(m) for m in msgs])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors
    assert sorted(sid for sid, _ in got.values()) == sessions, got
    for sid, bodies in got.values():
        assert bodies == [f"{sid}-{i}".encode() for i in range(3)], (sid, bodies)


def test_abandoned_session_message_comes_back_first(sb):
    """Within a session, order is kept: an abandoned message is redelivered before the later ones."""
    with sb.get_queue_sender("qsess") as s:
        s.send_messages([ServiceBusMessage(f"o{i}", session_id="ordered") for i in range(3)])
    with sb.get_queue_receiver("qsess", session_id="ordered", max_wait_time=5) as r:
        [m0] = r.receive_messages(max_message_count=1, max_wait_time=5)
        assert body_of(m0) == b"o0"
        r.abandon_message(m0)
        msgs = drain(r, expect=3, max_wait_time=3)
        assert [body_of(m) for m in msgs] == [b"o0", b"o1", b"o2"]
        assert msgs[0].delivery_count == 1


def test_session_subscription(broker_factory):
    import copy

    from conftest import DEFAULT_CONFIG

    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg["UserConfig"]["Namespaces"][0]["Topics"].append(
        {
            "Name": "tsess",
            "Properties": {"DefaultMessageTimeToLive": "PT1H"},
            "Subscriptions": [
                {"Name": "ss", "Properties": {"LockDuration": "PT10S", "MaxDeliveryCount": 5, "RequiresSession": True}}
            ],
        }
    )
    b = broker_factory(cfg)
    with b.client() as sb:
        with sb.get_topic_sender("tsess") as s:
            for i in range(3):
                s.send_messages([ServiceBusMessage(f"{sid}{i}", session_id=sid) for sid in ("X", "Y")])
        with sb.get_subscription_receiver("tsess", "ss", session_id="Y", max_wait_time=5) as r:
            msgs = drain(r, expect=3, max_wait_time=3)
            assert r.session.session_id == "Y"
            assert [body_of(m) for m in msgs] == [b"Y0", b"Y1", b"Y2"]
            r.session.set_state(b"sub-state")
            assert r.session.get_state() == b"sub-state"
        with sb.get_subscription_receiver("tsess", "ss", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=5) as r:
            msgs = drain(r, expect=3, max_wait_time=3)
            assert r.session.session_id == "X"
            assert [body_of(m) for m in msgs] == [b"X0", b"X1", b"X2"]


def test_dead_letter_queue_of_a_session_queue_is_not_session_enabled(sb):
    """The dead-letter subqueue of a session-enabled entity is read with a plain receiver: the SDK
    itself forbids a session receiver there ("To connect to the sub queue of a sessionful queue,
    please set sub_queue only as sub_queue does not support session", ValueError in
    ServiceBusClient.get_queue_receiver), so a broker that only hands DLQ messages to session
    links makes them unreachable.
    https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues"""
    with sb.get_queue_sender("qsess") as s:
        s.send_messages(ServiceBusMessage(b"session-poison", session_id="dl"))
    with sb.get_queue_receiver("qsess", session_id="dl", max_wait_time=5) as r:
        [m] = r.receive_messages(max_message_count=1, max_wait_time=5)
        r.dead_letter_message(m, reason="session-dlq")
    from azure.servicebus import ServiceBusSubQueue

    with sb.get_queue_receiver("qsess", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as dlq:
        dead = drain(dlq, expect=1)
    assert [body_of(d) for d in dead] == [b"session-poison"]
    assert dead[0].session_id == "dl"
    assert dead[0].dead_letter_reason == "session-dlq"
