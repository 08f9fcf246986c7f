"""Behaviour 4: complete, abandon (delivery_count + 1, visible again), dead_letter(reason,
error_description), defer + receive_deferred_messages; an expired lock makes the message
available again with delivery_count + 1; renew_message_lock extends locked_until; settling after
the lock is lost raises MessageLockLostError.

https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement
https://learn.microsoft.com/azure/service-bus-messaging/message-deferral
https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues
"""

import datetime
import time

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusMessageState, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.exceptions import MessageLockLostError, MessageNotFoundError

from conftest import body_of, drain

UTC = datetime.timezone.utc


def _now():
    return datetime.datetime.now(UTC)


def _send(sb, entity, *bodies):
    with sb.get_queue_sender(entity) as s:
        for b in bodies:
            s.send_messages(ServiceBusMessage(b))


def _one(r, wait=5):
    msgs = r.receive_messages(max_message_count=1, max_wait_time=wait)
    assert len(msgs) == 1, f"expected one message, got {len(msgs)}"
    return msgs[0]


def test_complete_removes_the_message(sb):
    _send(sb, "qlong", b"done")
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        m = _one(r)
        r.complete_message(m)
        assert r.receive_messages(max_message_count=1, max_wait_time=2) == []
        assert r.peek_messages(max_message_count=10) == []


def test_abandon_makes_it_visible_again_with_delivery_count_plus_one(sb):
    _send(sb, "qlong", b"again")
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        m1 = _one(r)
        assert m1.delivery_count == 0
        r.abandon_message(m1)
        m2 = _one(r)
        assert body_of(m2) == b"again"
        assert m2.sequence_number == m1.sequence_number
        assert m2.delivery_count == 1
        assert m2.lock_token != m1.lock_token
        r.abandon_message(m2)
        m3 = _one(r)
        assert m3.delivery_count == 2
        r.complete_message(m3)


def test_dead_letter_with_reason_and_description(sb):
    _send(sb, "qlong", b"poison")
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        m = _one(r)
        r.dead_letter_message(m, reason="bad-format", error_description="could not parse")
        assert r.receive_messages(max_message_count=1, max_wait_time=2) == []
    with sb.get_queue_receiver("qlong", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as dlq:
        d = _one(dlq)
        assert body_of(d) == b"poison"
        assert d.dead_letter_reason == "bad-format"
        assert d.dead_letter_error_description == "could not parse"
        assert d.sequence_number == m.sequence_number
        dlq.complete_message(d)
        assert dlq.receive_messages(max_message_count=1, max_wait_time=1) == []


def test_defer_then_receive_deferred_and_complete(sb):
    _send(sb, "qlong", b"later-please", b"other")
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        m = _one(r)
        assert body_of(m) == b"later-please"
        seq = m.sequence_number
        r.defer_message(m)
        # a deferred message is not delivered by a normal receive
        rest = drain(r, max_wait_time=2)
        assert [body_of(x) for x in rest] == [b"other"]
        # peek shows it as deferred
        peeked = r.peek_messages(max_message_count=10, sequence_number=seq)
        assert [p.sequence_number for p in peeked] == [seq]
        assert peeked[0].state == ServiceBusMessageState.DEFERRED
        [d] = r.receive_deferred_messages([seq])
        assert body_of(d) == b"later-please"
        assert d.sequence_number == seq
        assert d.lock_token is not None
        r.complete_message(d)  # settled through $management update-disposition
        # completed: no longer there (the service answers com.microsoft:message-not-found)
        try:
            got = r.receive_deferred_messages([seq])
        except MessageNotFoundError:
            got = []
        assert got == [], [body_of(x) for x in got]
        assert r.peek_messages(max_message_count=10, sequence_number=seq) == []


def test_lock_expiry_redelivers_with_delivery_count_plus_one(sb):
    _send(sb, "q1", b"slow")  # q1: LockDuration PT5S
    with sb.get_queue_receiver("q1", max_wait_time=5) as r:
        m1 = _one(r)
        assert m1.delivery_count == 0
        assert m1.locked_until_utc is not None
        lock_len = (m1.locked_until_utc - _now()).total_seconds()
        assert 2 < lock_len <= 6, lock_len
        # not visible while locked
        assert r.receive_messages(max_message_count=1, max_wait_time=2) == []
        time.sleep(max(0.0, (m1.locked_until_utc - _now()).total_seconds()) + 1.5)
        m2 = _one(r, wait=5)
        assert m2.sequence_number == m1.sequence_number
        assert m2.delivery_count == 1
        r.complete_message(m2)


def test_renew_message_lock_extends_locked_until(sb):
    _send(sb, "q1", b"renew-me")  # q1: 5 s lock
    with sb.get_queue_receiver("q1", max_wait_time=5) as r:
        m = _one(r)
        first = m.locked_until_utc
        # renew 1.5 s before the lock would run out
        time.sleep(max(0.0, (first - _now()).total_seconds() - 1.5))
        renewed = r.renew_message_lock(m)
        assert renewed > first
        assert m.locked_until_utc == renewed
        assert (renewed - _now()).total_seconds() > 3.5
        # past the original lock (but inside the renewed one) the message is still ours
        time.sleep(max(0.0, (first - _now()).total_seconds()) + 0.5)
        with sb.get_queue_receiver("q1", max_wait_time=1) as other:
            stolen = other.receive_messages(max_message_count=1, max_wait_time=1)
        assert _now() < renewed, "test too slow: the renewed lock ran out during the check"
        assert stolen == [], "redelivered although its lock was renewed"
        r.complete_message(m)
    with sb.get_queue_receiver("q1", max_wait_time=1) as r:
        assert r.receive_messages(max_message_count=1, max_wait_time=1) == []


def test_settle_after_lock_lost_raises_message_lock_lost(sb):
    _send(sb, "q1", b"too-late")
    with sb.get_queue_receiver("q1", max_wait_time=5) as r:
        m = _one(r)
        time.sleep(6.5)
        with pytest.raises(MessageLockLostError):
            r.complete_message(m)
    # the message was not completed: it is still there
    with sb.get_queue_receiver("q1", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
        again = drain(r, max_wait_time=3)
        assert [body_of(x) for x in again] == [b"too-late"]


def test_broker_refuses_settlement_of_an_expired_lock(sb):
    """The SDK checks locked_until_utc locally before settling; here its local view is pushed into
    the future so the disposition reaches the broker, which must refuse it (Rejected with
    com.microsoft:message-lock-lost), not silently complete the message."""
    _send(sb, "q1", b"stale-lock")
    with sb.get_queue_receiver("q1", max_wait_time=5) as r:
        m = _one(r)
        time.sleep(6.5)
        m._expiry = _now() + datetime.timedelta(hours=1)  # defeat the client-side check only
        with pytest.raises(MessageLockLostError):
            r.complete_message(m)
    with sb.get_queue_receiver("q1", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
        again = drain(r, max_wait_time=3)
        assert [body_of(x) for x in again] == [b"stale-lock"]
        assert again[0].delivery_count == 1


def test_renew_after_lock_lost_raises_message_lock_lost(sb):
    _send(sb, "q1", b"renew-too-late")
    with sb.get_queue_receiver("q1", max_wait_time=5) as r:
        m = _one(r)
        time.sleep(6.5)
        with pytest.raises(MessageLockLostError):
            r.renew_message_lock(m)


def test_settlements_are_confirmed_promptly_on_the_receive_link(sb):
    """The SDK sends PeekLock dispositions unsettled and waits (up to 60 s) for the broker to echo
    the outcome (accepted / modified / rejected) before it falls back to $management; a broker
    that never echoes makes every settlement take a minute. Each must take well under 2 s."""
    with sb.get_queue_sender("qlong") as s:
        s.send_messages([ServiceBusMessage(f"fast{i}") for i in range(4)])
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        msgs = drain(r, expect=4, complete=False)
        assert len(msgs) == 4
        ops = [
            lambda m: r.complete_message(m),
            lambda m: r.abandon_message(m),
            lambda m: r.defer_message(m),
            lambda m: r.dead_letter_message(m, reason="r", error_description="d"),
        ]
        for m, op in zip(msgs, ops):
            t0 = time.monotonic()
            op(m)
            assert time.monotonic() - t0 < 2.0, f"settlement of {body_of(m)} took {time.monotonic() - t0:.1f}s"


def test_dead_letter_a_deferred_message_through_management(sb):
    """Deferred messages are always settled with $management com.microsoft:update-disposition
    (disposition-status 'suspended' with deadletter-reason / deadletter-description)."""
    with sb.get_queue_sender("qlong") as s:
        s.send_messages(ServiceBusMessage(b"deferred-then-dead"))
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        m = _one(r)
        seq = m.sequence_number
        r.defer_message(m)
        [d] = r.receive_deferred_messages([seq])
        r.dead_letter_message(d, reason="mgmt-reason", error_description="mgmt-description")
        assert r.peek_messages(max_message_count=5, sequence_number=seq) == []
    with sb.get_queue_receiver("qlong", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as dlq:
        [x] = drain(dlq, expect=1)
    assert body_of(x) == b"deferred-then-dead"
    assert x.dead_letter_reason == "mgmt-reason"
    assert x.dead_letter_error_description == "mgmt-description"


def test_abandon_deferred_message_keeps_it_deferred(sb):
    """Abandoning a message received by sequence number returns it to the deferred set (it is not
    delivered by a normal receive); its delivery count grows. Observed on the real service by the
    Azure SDK team (Azure/azure-sdk-for-go PR 17682, live test: "AbandonMessage() updates the
    delivery count. The message remains deferred however.")."""
    with sb.get_queue_sender("qlong") as s:
        s.send_messages(ServiceBusMessage(b"stay-deferred"))
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        m = _one(r)
        seq = m.sequence_number
        r.defer_message(m)
        [d1] = r.receive_deferred_messages([seq])
        r.abandon_message(d1)
        assert r.receive_messages(max_message_count=1, max_wait_time=2) == []
        [d2] = r.receive_deferred_messages([seq])
        assert body_of(d2) == b"stay-deferred"
        assert d2.delivery_count > d1.delivery_count
        r.complete_message(d2)


def test_buffered_messages_released_on_close_come_back_at_once(sb):
    """On close, a PeekLock receiver drains its link and settles every prefetched, never-returned
    message as AMQP `released` (_pyamqp_transport.drain_and_release_messages). A released delivery
    was never processed: it is available again immediately and does not count as a delivery
    attempt (AMQP 1.0 part 3 §3.4.4 `released`; only `modified` with delivery-failed counts)."""
    with sb.get_queue_sender("qwork") as s:  # qwork: 30 s lock
        s.send_messages([ServiceBusMessage(f"pf{i}") for i in range(6)])
    r = sb.get_queue_receiver("qwork", prefetch_count=5, max_wait_time=5)
    try:
        [first] = r.receive_messages(max_message_count=1, max_wait_time=5)
        time.sleep(0.5)  # let the rest of the credit's worth arrive in the buffer
        r.complete_message(first)
    finally:
        r.close()
    t0 = time.monotonic()
    with sb.get_queue_receiver("qwork", max_wait_time=3) as r2:
        rest = drain(r2, expect=5, max_wait_time=3)
    assert len(rest) == 5, f"only {len(rest)} of 5 came back within {time.monotonic() - t0:.1f}s (30 s lock)"
    assert time.monotonic() - t0 < 10
    assert sorted(body_of(m) for m in rest + [first]) == sorted(f"pf{i}".encode() for i in range(6))
    assert all(m.delivery_count == 0 for m in rest), [m.delivery_count for m in rest]


def test_receive_deferred_in_receive_and_delete_mode_removes_it(sb):
    with sb.get_queue_sender("qlong") as s:
        s.send_messages(ServiceBusMessage(b"defer-then-take"))
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        m = _one(r)
        seq = m.sequence_number
        r.defer_message(m)
    with sb.get_queue_receiver("qlong", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
        [d] = r.receive_deferred_messages([seq])
        assert body_of(d) == b"defer-then-take"
        assert d.lock_token is None
        assert r.peek_messages(max_message_count=5, sequence_number=seq) == []
