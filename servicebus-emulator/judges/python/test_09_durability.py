"""Behaviour 9: durability. A broker started with --data-dir keeps accepted messages across a
SIGKILL and a restart on the same port and data dir: the messages are received afterwards
(counted), completed ones do not come back, and sequence numbers keep increasing.

https://learn.microsoft.com/azure/service-bus-messaging/service-bus-messaging-overview
("Messages are held durably" — an accepted send is stored before it is acknowledged)
"""

from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode, ServiceBusSubQueue

from conftest import body_of, drain


def test_messages_survive_kill_and_restart(broker_factory, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    b = broker_factory(data_dir=data)
    port = b.port
    with b.client() as sb:
        with sb.get_queue_sender("qwork") as s:
            for i in range(10):
                s.send_messages(ServiceBusMessage(f"single{i}", message_id=f"s{i}", application_properties={"i": i}))
            s.send_messages([ServiceBusMessage(f"batch{i}", message_id=f"b{i}") for i in range(10)])
        with sb.get_topic_sender("t1") as s:
            s.send_messages([ServiceBusMessage(f"topic{i}") for i in range(4)])
        # complete 5 before the crash: they must stay gone
        with sb.get_queue_receiver("qwork", max_wait_time=5) as r:
            done = drain(r, expect=5)
        assert len(done) == 5
        max_seq_before = max(m.sequence_number for m in done)

    b.restart(kill=True)  # SIGKILL, then start again on the same port and data dir
    assert b.port == port

    with b.client() as sb:
        with sb.get_queue_receiver("qwork", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
            left = drain(r, max_wait_time=3)
        bodies = sorted(body_of(m) for m in left)
        expected = sorted(
            [f"single{i}".encode() for i in range(10)] + [f"batch{i}".encode() for i in range(10)]
        )
        completed = sorted(body_of(m) for m in done)
        assert len(left) == 15, f"{len(left)} left after restart: {bodies}"
        assert sorted(bodies + completed) == expected
        by_id = {m.message_id: m for m in left}
        for i in range(10):
            if f"s{i}" in by_id:
                assert by_id[f"s{i}"].application_properties[b"i"] == i
        max_seq = max(m.sequence_number for m in left)
        assert max_seq > max_seq_before

        for sub in ("s1", "s2"):
            with sb.get_subscription_receiver(
                "t1", sub, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
            ) as r:
                got = drain(r, max_wait_time=3)
            assert sorted(body_of(m) for m in got) == [f"topic{i}".encode() for i in range(4)], sub

        # new messages get new, larger sequence numbers
        with sb.get_queue_sender("qwork") as s:
            s.send_messages(ServiceBusMessage(b"after-restart"))
        with sb.get_queue_receiver("qwork", max_wait_time=5) as r:
            [m] = drain(r, expect=1)
        assert body_of(m) == b"after-restart"
        assert m.sequence_number > max_seq


def test_dead_letters_and_abandons_survive_restart(broker_factory, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    b = broker_factory(data_dir=data)
    with b.client() as sb:
        with sb.get_queue_sender("qlong") as s:
            s.send_messages([ServiceBusMessage(f"d{i}") for i in range(3)])
        with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
            msgs = r.receive_messages(max_message_count=3, max_wait_time=5)
            msgs += r.receive_messages(max_message_count=3 - len(msgs), max_wait_time=5) if len(msgs) < 3 else []
            assert len(msgs) == 3
            by_body = {body_of(m): m for m in msgs}
            r.dead_letter_message(by_body[b"d0"], reason="why", error_description="because")
            r.abandon_message(by_body[b"d1"])
            r.complete_message(by_body[b"d2"])

    b.restart(kill=True)

    with b.client() as sb:
        with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
            live = drain(r, max_wait_time=3)
        assert [body_of(m) for m in live] == [b"d1"]
        assert live[0].delivery_count == 1
        with sb.get_queue_receiver("qlong", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as dlq:
            dead = drain(dlq, max_wait_time=3)
        assert [body_of(m) for m in dead] == [b"d0"]
        assert dead[0].dead_letter_reason == "why"
        assert dead[0].dead_letter_error_description == "because"



def test_scheduled_deferred_and_session_state_survive_restart(broker_factory, tmp_path):
    import datetime

    from azure.servicebus import ServiceBusMessageState

    data = tmp_path / "data"
    data.mkdir()
    b = broker_factory(data_dir=data)
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=8)
    with b.client() as sb:
        with sb.get_queue_sender("qlong") as s:
            [sched_seq] = s.schedule_messages(ServiceBusMessage(b"scheduled"), at)
            s.send_messages(ServiceBusMessage(b"to-defer"))
        with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
            [m] = r.receive_messages(max_message_count=1, max_wait_time=5)
            assert body_of(m) == b"to-defer"
            deferred_seq = m.sequence_number
            r.defer_message(m)
        with sb.get_queue_sender("qsess") as s:
            s.send_messages(ServiceBusMessage(b"in-session", session_id="durable-session"))
        with sb.get_queue_receiver("qsess", session_id="durable-session", max_wait_time=5) as r:
            r.session.set_state(b"checkpoint-7")

    b.restart(kill=True)

    with b.client() as sb:
        with sb.get_queue_receiver("qlong", max_wait_time=3) as r:
            peeked = {p.sequence_number: p for p in r.peek_messages(max_message_count=10, sequence_number=1)}
            assert peeked.get(deferred_seq) is not None, "deferred message lost"
            assert peeked[deferred_seq].state == ServiceBusMessageState.DEFERRED
            assert peeked.get(sched_seq) is not None, "scheduled message lost"
            assert peeked[sched_seq].state == ServiceBusMessageState.SCHEDULED
            [d] = r.receive_deferred_messages([deferred_seq])
            assert body_of(d) == b"to-defer"
            r.complete_message(d)
        with sb.get_queue_receiver("qlong", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
            got = r.receive_messages(max_message_count=1, max_wait_time=15)
            assert [body_of(m) for m in got] == [b"scheduled"]
            assert datetime.datetime.now(datetime.timezone.utc) >= at - datetime.timedelta(milliseconds=500)
        with sb.get_queue_receiver("qsess", session_id="durable-session", max_wait_time=5) as r:
            assert r.session.get_state() == b"checkpoint-7"
            assert [body_of(m) for m in drain(r, expect=1)] == [b"in-session"]
