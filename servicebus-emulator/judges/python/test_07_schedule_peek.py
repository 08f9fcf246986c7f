"""Behaviour 7: schedule_messages makes messages appear at their scheduled time and not before;
cancel_scheduled_messages removes one; peek_messages returns messages without locking them and
without changing their delivery count.

https://learn.microsoft.com/azure/service-bus-messaging/message-sequencing#scheduled-messages
https://learn.microsoft.com/azure/service-bus-messaging/message-browsing
"""

import datetime
import time

from azure.servicebus import ServiceBusMessage, ServiceBusMessageState, ServiceBusReceiveMode

from conftest import body_of, drain

UTC = datetime.timezone.utc


def _now():
    return datetime.datetime.now(UTC)


def test_scheduled_messages_appear_at_their_time_and_cancel_removes_one(sb):
    at = _now() + datetime.timedelta(seconds=4)
    with sb.get_queue_sender("qlong") as s:
        seqs = s.schedule_messages([ServiceBusMessage(f"sched{i}") for i in range(3)], at)
        assert len(seqs) == 3 and len(set(seqs)) == 3
        assert all(isinstance(x, int) for x in seqs)
        s.cancel_scheduled_messages(seqs[1])
    with sb.get_queue_receiver("qlong", max_wait_time=2) as r:
        # scheduled messages are visible to peek with state SCHEDULED, but cannot be received yet
        peeked = r.peek_messages(max_message_count=10)
        assert sorted(p.sequence_number for p in peeked) == sorted([seqs[0], seqs[2]])
        assert all(p.state == ServiceBusMessageState.SCHEDULED for p in peeked)
        early = r.receive_messages(max_message_count=5, max_wait_time=1)
        assert early == [], f"received {[body_of(m) for m in early]} before {at}"
    with sb.get_queue_receiver("qlong", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 2 and time.monotonic() < deadline:
            for m in r.receive_messages(max_message_count=5, max_wait_time=2):
                got.append((m, _now()))
        bodies = sorted(body_of(m) for m, _ in got)
        assert bodies == [b"sched0", b"sched2"], bodies
        for m, when in got:
            assert when >= at - datetime.timedelta(milliseconds=500), (when, at)
            assert m.scheduled_enqueue_time_utc is not None
            assert abs((m.scheduled_enqueue_time_utc - at).total_seconds()) < 1.0
        # the cancelled one never shows up
        assert r.receive_messages(max_message_count=5, max_wait_time=2) == []


def test_schedule_single_message_returns_its_sequence_number(sb):
    at = _now() + datetime.timedelta(seconds=2)
    with sb.get_queue_sender("qlong") as s:
        [seq] = s.schedule_messages(ServiceBusMessage(b"one", message_id="sched-one"), at)
    with sb.get_queue_receiver("qlong", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
        msgs = r.receive_messages(max_message_count=1, max_wait_time=10)
    assert len(msgs) == 1
    assert msgs[0].sequence_number == seq
    assert msgs[0].message_id == "sched-one"
    assert _now() >= at


def test_peek_does_not_lock_or_count_a_delivery(sb):
    with sb.get_queue_sender("qlong") as s:
        s.send_messages([ServiceBusMessage(f"pk{i}") for i in range(4)])
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        peeked = r.peek_messages(max_message_count=10)
        assert [body_of(p) for p in peeked] == [b"pk0", b"pk1", b"pk2", b"pk3"]
        seqs = [p.sequence_number for p in peeked]
        assert seqs == sorted(seqs)
        assert all(p.delivery_count == 0 for p in peeked)
        assert all(p.state == ServiceBusMessageState.ACTIVE for p in peeked)
        # browsing again from the first sequence number gives the same messages
        again = r.peek_messages(max_message_count=2, sequence_number=seqs[0])
        assert [p.sequence_number for p in again] == seqs[:2]
        # peeked messages are not locked: a receiver gets all 4 right away, first delivery
        msgs = drain(r, expect=4, complete=False)
        assert [body_of(m) for m in msgs] == [b"pk0", b"pk1", b"pk2", b"pk3"]
        assert [m.delivery_count for m in msgs] == [0, 0, 0, 0]
        # peek also shows locked messages, and does not change their delivery count
        locked_view = r.peek_messages(max_message_count=10, sequence_number=seqs[0])
        assert [p.sequence_number for p in locked_view] == seqs
        assert all(p.delivery_count == 0 for p in locked_view)
        for m in msgs:
            r.complete_message(m)
        assert r.peek_messages(max_message_count=10, sequence_number=seqs[0]) == []


def test_peek_on_empty_queue_returns_nothing(sb):
    with sb.get_queue_receiver("qlong") as r:
        assert r.peek_messages(max_message_count=5) == []


def test_peek_pages_through_the_queue(sb):
    """Consecutive peek_messages calls continue after the last peeked sequence number
    (the SDK sends from-sequence-number = last + 1)."""
    with sb.get_queue_sender("qlong") as s:
        s.send_messages([ServiceBusMessage(f"page{i}") for i in range(7)])
    with sb.get_queue_receiver("qlong") as r:
        pages = [r.peek_messages(max_message_count=3) for _ in range(4)]
    assert [len(p) for p in pages] == [3, 3, 1, 0]
    bodies = [body_of(m) for p in pages for m in p]
    assert bodies == [f"page{i}".encode() for i in range(7)]


def test_scheduled_message_on_a_topic_reaches_every_subscription_at_its_time(sb):
    at = _now() + datetime.timedelta(seconds=3)
    with sb.get_topic_sender("t1") as s:
        [seq] = s.schedule_messages(ServiceBusMessage(b"topic-later"), at)
        assert isinstance(seq, int)
    for sub in ("s1", "s2"):
        with sb.get_subscription_receiver(
            "t1", sub, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
        ) as r:
            msgs = r.receive_messages(max_message_count=1, max_wait_time=10)
            assert [body_of(m) for m in msgs] == [b"topic-later"], sub
            assert _now() >= at - datetime.timedelta(milliseconds=500)
