"""Behaviour 5: a message whose delivery count exceeds MaxDeliveryCount is moved to the
$DeadLetterQueue with reason MaxDeliveryCountExceeded; an expired message is dead-lettered with
reason TTLExpiredException when DeadLetteringOnMessageExpiration is on, and dropped otherwise.

https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues
  ("Maximum delivery count": DeadLetterReason MaxDeliveryCountExceeded;
   "Time to live": DeadLetterReason TTLExpiredException)
https://learn.microsoft.com/azure/service-bus-messaging/message-expiration
"""

import datetime
import time

from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode, ServiceBusSubQueue

from conftest import body_of, drain


def test_max_delivery_count_exceeded_goes_to_dead_letter_queue(sb):
    with sb.get_queue_sender("q1") as s:  # q1: MaxDeliveryCount 3
        s.send_messages(ServiceBusMessage(b"never-works", message_id="mdc-1"))
    counts = []
    with sb.get_queue_receiver("q1", max_wait_time=5) as r:
        for _ in range(3):
            msgs = r.receive_messages(max_message_count=1, max_wait_time=5)
            assert len(msgs) == 1, f"delivery {len(counts) + 1} missing (counts so far {counts})"
            counts.append(msgs[0].delivery_count)
            r.abandon_message(msgs[0])
        # the 3rd failed delivery exhausted MaxDeliveryCount: gone from the queue
        assert r.receive_messages(max_message_count=1, max_wait_time=2) == []
    assert counts == [0, 1, 2]
    with sb.get_queue_receiver("q1", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as dlq:
        dead = drain(dlq, max_wait_time=3)
    assert len(dead) == 1
    assert body_of(dead[0]) == b"never-works"
    assert dead[0].message_id == "mdc-1"
    assert dead[0].dead_letter_reason == "MaxDeliveryCountExceeded"


def test_max_delivery_count_counts_lock_expiries_too(sb):
    with sb.get_queue_sender("q1") as s:
        s.send_messages(ServiceBusMessage(b"slow-consumer"))
    with sb.get_queue_receiver("q1", max_wait_time=5) as r:
        for i in range(3):
            msgs = r.receive_messages(max_message_count=1, max_wait_time=8)
            assert len(msgs) == 1, f"delivery {i + 1} missing"
            assert msgs[0].delivery_count == i
            time.sleep(6)  # let the 5 s lock expire
        assert r.receive_messages(max_message_count=1, max_wait_time=2) == []
    with sb.get_queue_receiver("q1", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as dlq:
        dead = drain(dlq, max_wait_time=3)
    assert [body_of(d) for d in dead] == [b"slow-consumer"]
    assert dead[0].dead_letter_reason == "MaxDeliveryCountExceeded"


def test_expired_message_is_dead_lettered_when_enabled(sb):
    with sb.get_queue_sender("q1") as s:  # DeadLetteringOnMessageExpiration: true
        s.send_messages(ServiceBusMessage(b"short-lived", time_to_live=datetime.timedelta(seconds=2)))
        s.send_messages(ServiceBusMessage(b"long-lived"))
    time.sleep(3.5)
    with sb.get_queue_receiver("q1", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
        live = drain(r, max_wait_time=3)
    assert [body_of(m) for m in live] == [b"long-lived"]
    with sb.get_queue_receiver("q1", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as dlq:
        dead = drain(dlq, max_wait_time=5)
    assert [body_of(d) for d in dead] == [b"short-lived"]
    assert dead[0].dead_letter_reason == "TTLExpiredException"


def test_expired_message_is_dropped_when_dead_lettering_disabled(sb):
    with sb.get_queue_sender("qnodlx") as s:  # DeadLetteringOnMessageExpiration: false
        s.send_messages(ServiceBusMessage(b"short-lived", time_to_live=datetime.timedelta(seconds=2)))
        s.send_messages(ServiceBusMessage(b"long-lived"))
    time.sleep(3.5)
    with sb.get_queue_receiver("qnodlx", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
        live = drain(r, max_wait_time=3)
    assert [body_of(m) for m in live] == [b"long-lived"]
    with sb.get_queue_receiver("qnodlx", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=3) as dlq:
        assert drain(dlq, max_wait_time=3) == []
        assert dlq.peek_messages(max_message_count=10) == []


def broker_with_short_ttl_queue(broker_factory, name):
    """A broker whose config adds queue `name`: messages live 2 s by default and are
    dead-lettered when they expire."""
    import copy

    from conftest import DEFAULT_CONFIG

    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg["UserConfig"]["Namespaces"][0]["Queues"].append(
        {
            "Name": name,
            "Properties": {
                "LockDuration": "PT5S",
                "MaxDeliveryCount": 3,
                "RequiresSession": False,
                "DefaultMessageTimeToLive": "PT2S",
                "DeadLetteringOnMessageExpiration": True,
            },
        }
    )
    return broker_factory(cfg)


def test_entity_default_ttl_applies(broker_factory):
    b = broker_with_short_ttl_queue(broker_factory, "qttl")
    with b.client() as sb:
        with sb.get_queue_sender("qttl") as s:
            s.send_messages(ServiceBusMessage(b"uses-entity-default"))
        time.sleep(3.5)
        with sb.get_queue_receiver("qttl", max_wait_time=2) as r:
            assert r.receive_messages(max_message_count=1, max_wait_time=2) == []
        with sb.get_queue_receiver("qttl", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as dlq:
            dead = drain(dlq, max_wait_time=5)
        assert [body_of(d) for d in dead] == [b"uses-entity-default"]
        assert dead[0].dead_letter_reason == "TTLExpiredException"


def test_subscription_max_delivery_count_goes_to_subscription_dead_letter_queue(sb):
    with sb.get_topic_sender("t1") as s:
        s.send_messages(ServiceBusMessage(b"sub-poison"))
    with sb.get_subscription_receiver("t1", "s1", max_wait_time=5) as r:  # s1: MaxDeliveryCount 3
        for i in range(3):
            [m] = r.receive_messages(max_message_count=1, max_wait_time=5)
            assert m.delivery_count == i
            r.abandon_message(m)
        assert r.receive_messages(max_message_count=1, max_wait_time=2) == []
    with sb.get_subscription_receiver(
        "t1", "s1", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5
    ) as dlq:
        dead = drain(dlq, max_wait_time=3)
    assert [body_of(d) for d in dead] == [b"sub-poison"]
    assert dead[0].dead_letter_reason == "MaxDeliveryCountExceeded"
    # s2 got its own copy, untouched
    with sb.get_subscription_receiver("t1", "s2", max_wait_time=5) as r:
        got = drain(r, expect=1)
    assert [(body_of(m), m.delivery_count) for m in got] == [(b"sub-poison", 0)]


def test_message_ttl_cannot_exceed_the_entity_default(broker_factory):
    """https://learn.microsoft.com/azure/service-bus-messaging/message-expiration: a message-level
    TTL can't be longer than the entity's DefaultMessageTimeToLive; it is silently adjusted."""
    b = broker_with_short_ttl_queue(broker_factory, "qcap")
    with b.client() as sb:
        with sb.get_queue_sender("qcap") as s:
            s.send_messages(ServiceBusMessage(b"asks-for-an-hour", time_to_live=datetime.timedelta(hours=1)))
        time.sleep(3.5)
        with sb.get_queue_receiver("qcap", max_wait_time=2) as r:
            assert r.receive_messages(max_message_count=1, max_wait_time=2) == []
        with sb.get_queue_receiver("qcap", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as dlq:
            dead = drain(dlq, max_wait_time=5)
        assert [body_of(d) for d in dead] == [b"asks-for-an-hour"]
        assert dead[0].dead_letter_reason == "TTLExpiredException"
