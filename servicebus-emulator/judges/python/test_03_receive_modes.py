"""Behaviour 3: PeekLock and ReceiveAndDelete; a topic with two subscriptions gives each its own
copy; two competing receivers on one queue split N messages with no duplicate and none lost;
prefetch_count bounds how many messages one receiver takes (the SDK grants prefetch_count + 1
link credit, see python-sdk-wire notes section 5).

https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement
https://learn.microsoft.com/azure/service-bus-messaging/service-bus-prefetch
"""

import threading
import time

from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode

from conftest import body_of, drain


def _send(sb, entity, n, prefix="m", topic=False):
    with (sb.get_topic_sender(entity) if topic else sb.get_queue_sender(entity)) as s:
        s.send_messages([ServiceBusMessage(f"{prefix}{i}") for i in range(n)])


def test_peek_lock_message_stays_until_completed(sb):
    _send(sb, "qlong", 1)
    with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        [m] = r.receive_messages(max_message_count=1, max_wait_time=5)
        assert m.lock_token is not None
        assert m.locked_until_utc is not None
        # While it is locked no one else gets it.
        with sb.get_queue_receiver("qlong", max_wait_time=2) as other:
            assert other.receive_messages(max_message_count=1, max_wait_time=2) == []
        r.complete_message(m)
    with sb.get_queue_receiver("qlong", max_wait_time=2) as r:
        assert r.receive_messages(max_message_count=1, max_wait_time=2) == []


def test_receive_and_delete_removes_on_delivery(sb):
    _send(sb, "qlong", 3)
    with sb.get_queue_receiver("qlong", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
        msgs = drain(r, expect=3, max_wait_time=5)
        assert sorted(body_of(m) for m in msgs) == [b"m0", b"m1", b"m2"]
        # settled on delivery: there is no lock
        assert all(m.lock_token is None and m.locked_until_utc is None for m in msgs)
    with sb.get_queue_receiver("qlong", max_wait_time=2) as r:
        assert r.receive_messages(max_message_count=5, max_wait_time=2) == []


def test_topic_two_subscriptions_each_get_a_copy(sb):
    _send(sb, "t1", 4, prefix="t", topic=True)
    for sub in ("s1", "s2"):
        with sb.get_subscription_receiver("t1", sub, max_wait_time=5) as r:
            msgs = drain(r, expect=4)
            assert sorted(body_of(m) for m in msgs) == [b"t0", b"t1", b"t2", b"t3"], sub
            assert r.receive_messages(max_message_count=5, max_wait_time=1) == []


def test_competing_receivers_split_without_duplicates_or_loss(broker):
    n = 40
    with broker.client() as sb:
        _send(sb, "qwork", n, prefix="w")
    results = {"a": [], "b": []}
    errors = []

    def work(name):
        try:
            with broker.client() as c, c.get_queue_receiver("qwork", max_wait_time=3) as r:
                idle = 0
                while idle < 2:
                    batch = r.receive_messages(max_message_count=3, max_wait_time=2)
                    if not batch:
                        idle += 1
                        continue
                    idle = 0
                    for m in batch:
                        results[name].append(body_of(m))
                        r.complete_message(m)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((name, repr(e)))

    ts = [threading.Thread(target=work, args=(k,)) for k in results]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    assert not errors, errors
    everything = results["a"] + results["b"]
    assert len(everything) == n, (len(results["a"]), len(results["b"]))
    assert sorted(everything) == sorted(f"w{i}".encode() for i in range(n))
    assert len(set(everything)) == n, "a message was delivered to both receivers"


def test_prefetch_count_bounds_what_one_receiver_locks(sb):
    n, prefetch = 12, 3
    _send(sb, "qwork", n, prefix="p")
    greedy = sb.get_queue_receiver("qwork", prefetch_count=prefetch, max_wait_time=5)
    try:
        first = greedy.receive_messages(max_message_count=1, max_wait_time=5)
        assert len(first) == 1
        # The SDK asked for prefetch_count + 1 = 4 messages; the broker must not have given it more,
        # so exactly n - 4 are left for someone else (the 3 prefetched ones are locked in its buffer).
        with sb.get_queue_receiver("qwork", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as other:
            rest = drain(other, max_wait_time=2)
        assert len(rest) == n - (prefetch + 1), len(rest)
        # the prefetched ones are served from the buffer
        buffered = greedy.receive_messages(max_message_count=prefetch, max_wait_time=2)
        assert len(buffered) == prefetch
        got = [body_of(m) for m in first + buffered] + [body_of(m) for m in rest]
        assert sorted(got) == sorted(f"p{i}".encode() for i in range(n))
        for m in first + buffered:
            greedy.complete_message(m)
    finally:
        greedy.close()


def test_prefetch_zero_receive_takes_only_what_is_asked(sb):
    _send(sb, "qwork", 10, prefix="z")
    with sb.get_queue_receiver("qwork", max_wait_time=5) as r:
        batch = r.receive_messages(max_message_count=4, max_wait_time=5)
        # max_message_count=4 grants exactly 4 credits (prefetch 0): 4 locked, 6 left
        assert 1 <= len(batch) <= 4
        with sb.get_queue_receiver("qwork", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as other:
            rest = drain(other, max_wait_time=2)
        assert len(rest) == 10 - 4, len(rest)
        for m in batch:
            r.complete_message(m)


def test_iterating_a_receiver_streams_every_message(sb):
    """`for msg in receiver` (receive_messages_iter: credit prefetch_count + 1, re-granted as it is
    used) gets every message once and stops after max_wait_time of silence."""
    _send(sb, "qwork", 15, prefix="it")
    seen = []
    t0 = time.monotonic()
    with sb.get_queue_receiver("qwork", max_wait_time=3) as r:
        for m in r:
            seen.append(body_of(m))
            r.complete_message(m)
    assert sorted(seen) == sorted(f"it{i}".encode() for i in range(15))
    assert len(set(seen)) == 15
    assert time.monotonic() - t0 < 30
