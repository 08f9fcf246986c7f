"""Behaviour 3 (flow control over a link's life): credit is granted relative to the link's
delivery count (AMQP 1.0 part 2 §2.6.7), so a sender link that outlives its first grant of credit
keeps sending. 2,500 single sends on one link, more than twice the broker's credit window, all
arrive, in order.

https://learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-protocol-guide#flow-control
"""

from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode

from conftest import body_of


def test_one_sender_link_sends_past_its_first_credit(sb):
    n = 2500
    with sb.get_queue_sender("qlong") as s:
        for i in range(n):
            s.send_messages(ServiceBusMessage(f"m{i}"))
    got = []
    with sb.get_queue_receiver("qlong", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
        while len(got) < n:
            batch = r.receive_messages(max_message_count=500, max_wait_time=5)
            if not batch:
                break
            got.extend(body_of(m) for m in batch)
    assert len(got) == n
    assert got == [f"m{i}".encode() for i in range(n)]
