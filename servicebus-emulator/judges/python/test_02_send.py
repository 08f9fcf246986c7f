"""Behaviour 2: sending a single message and a ServiceBusMessageBatch; every settable property
survives the round trip (message_id, correlation_id, content_type, subject, application_properties
of type str/int/float/bool/bytes, session_id, time_to_live, scheduled_enqueue_time_utc); the broker
stamps an increasing sequence_number, enqueued_time_utc and, in PeekLock, locked_until_utc.

https://learn.microsoft.com/azure/service-bus-messaging/service-bus-messages-payloads
"""

import datetime

from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode

from conftest import body_of, drain

UTC = datetime.timezone.utc


def _now():
    return datetime.datetime.now(UTC)


def test_single_message_properties_round_trip(sb):
    # bytes values: the SDK (pyamqp) decodes them as UTF-8 and sends an AMQP string ("parity with
    # uamqp", _pyamqp_transport.to_outgoing_amqp_message), so they must be UTF-8 text.
    props = {"s": "text", "i": 42, "f": 2.5, "b": True, "raw": b"raw-bytes"}
    before = _now() - datetime.timedelta(seconds=2)
    with sb.get_queue_sender("qlong") as s:
        s.send_messages(
            ServiceBusMessage(
                b"payload",
                message_id="mid-1",
                correlation_id="corr-1",
                content_type="application/octet-stream",
                subject="the-subject",
                application_properties=props,
                time_to_live=datetime.timedelta(minutes=10),
                to="someone",
                reply_to="back-here",
            )
        )
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        msgs = r.receive_messages(max_message_count=1, max_wait_time=5)
        assert len(msgs) == 1
        m = msgs[0]
        assert body_of(m) == b"payload"
        assert m.message_id == "mid-1"
        assert m.correlation_id == "corr-1"
        assert m.content_type == "application/octet-stream"
        assert m.subject == "the-subject"
        assert m.to == "someone"
        assert m.reply_to == "back-here"
        ap = m.application_properties
        # pyamqp returns string keys and string values as bytes
        assert ap[b"s"] == b"text"
        assert ap[b"i"] == 42
        assert ap[b"f"] == 2.5
        assert ap[b"b"] is True
        assert ap[b"raw"] == b"raw-bytes"
        assert m.time_to_live == datetime.timedelta(minutes=10)
        assert m.sequence_number is not None and m.sequence_number >= 1
        assert m.enqueued_time_utc is not None
        assert before <= m.enqueued_time_utc <= _now() + datetime.timedelta(seconds=2)
        # PeekLock: locked for the queue's LockDuration (1 minute for qlong)
        assert m.locked_until_utc is not None
        lock_left = (m.locked_until_utc - _now()).total_seconds()
        assert 30 < lock_left <= 62, lock_left
        assert m.delivery_count == 0
        r.complete_message(m)


def test_sequence_numbers_increase(sb):
    with sb.get_queue_sender("qlong") as s:
        for i in range(5):
            s.send_messages(ServiceBusMessage(f"n{i}"))
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        msgs = drain(r, expect=5)
    assert [body_of(m) for m in msgs] == [b"n0", b"n1", b"n2", b"n3", b"n4"]
    seqs = [m.sequence_number for m in msgs]
    assert all(isinstance(x, int) for x in seqs)
    assert seqs == sorted(seqs) and len(set(seqs)) == 5, seqs


def test_batch_send_keeps_each_message(sb):
    with sb.get_queue_sender("qlong") as s:
        batch = s.create_message_batch()
        for i in range(10):
            batch.add_message(
                ServiceBusMessage(
                    f"b{i}", message_id=f"bid-{i}", subject=f"subj-{i}", application_properties={"idx": i}
                )
            )
        assert len(batch) == 10
        s.send_messages(batch)
        # a plain list is sent as one batch too
        s.send_messages([ServiceBusMessage(f"l{i}", message_id=f"lid-{i}") for i in range(3)])
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        msgs = drain(r, expect=13)
    assert len(msgs) == 13
    assert [body_of(m) for m in msgs[:10]] == [f"b{i}".encode() for i in range(10)]
    assert [m.message_id for m in msgs[:10]] == [f"bid-{i}" for i in range(10)]
    assert [m.subject for m in msgs[:10]] == [f"subj-{i}" for i in range(10)]
    assert [m.application_properties[b"idx"] for m in msgs[:10]] == list(range(10))
    assert [m.message_id for m in msgs[10:]] == ["lid-0", "lid-1", "lid-2"]
    seqs = [m.sequence_number for m in msgs]
    assert len(set(seqs)) == 13 and seqs == sorted(seqs)


def test_session_id_kept(sb):
    with sb.get_queue_sender("qsess") as s:
        s.send_messages(ServiceBusMessage(b"in-session", session_id="sess-A"))
    with sb.get_queue_receiver("qsess", session_id="sess-A", max_wait_time=5) as r:
        msgs = drain(r, expect=1)
    assert len(msgs) == 1
    assert msgs[0].session_id == "sess-A"


def test_scheduled_enqueue_time_kept(sb):
    at = (_now() + datetime.timedelta(seconds=3)).replace(microsecond=0)
    with sb.get_queue_sender("qlong") as s:
        s.send_messages(ServiceBusMessage(b"later", scheduled_enqueue_time_utc=at))
    with sb.get_queue_receiver("qlong", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
        msgs = r.receive_messages(max_message_count=1, max_wait_time=15)
    assert len(msgs) == 1
    assert body_of(msgs[0]) == b"later"
    assert msgs[0].scheduled_enqueue_time_utc == at
    assert _now() >= at
