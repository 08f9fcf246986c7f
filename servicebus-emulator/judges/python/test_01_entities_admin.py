"""Behaviour 1: entities come from the Config.json; the administration client
(`ServiceBusAdministrationClient`) creates, gets and deletes queues, topics and subscriptions, and a
created entity is usable over AMQP.

Note: azure-servicebus 7.15's administration client always uses https://; conftest.Broker.admin()
rewrites the scheme to http:// (see python-sdk-wire notes, section 9).
"""

import datetime

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import MessagingEntityNotFoundError, ServiceBusAuthenticationError

# A deleted entity is refused like an unknown one (see test_10_bad_input.test_unknown_queue...).
GONE = (MessagingEntityNotFoundError, ServiceBusAuthenticationError)

from conftest import body_of, drain


def test_config_entities_exist_over_amqp(sb):
    with sb.get_queue_sender("q1") as s:
        s.send_messages(ServiceBusMessage(b"to-q1"))
    with sb.get_queue_receiver("q1", max_wait_time=5) as r:
        got = drain(r, expect=1)
    assert [body_of(m) for m in got] == [b"to-q1"]

    with sb.get_topic_sender("t1") as s:
        s.send_messages(ServiceBusMessage(b"to-t1"))
    with sb.get_subscription_receiver("t1", "s1", max_wait_time=5) as r:
        got = drain(r, expect=1)
    assert [body_of(m) for m in got] == [b"to-t1"]


def test_config_entities_visible_to_admin_client(broker):
    with broker.admin() as admin:
        q = admin.get_queue("q1")
        assert q.name == "q1"
        assert q.lock_duration == datetime.timedelta(seconds=5)
        assert q.max_delivery_count == 3
        assert q.requires_session is False
        assert q.dead_lettering_on_message_expiration is True
        assert admin.get_queue("qsess").requires_session is True
        assert admin.get_topic("t1").name == "t1"
        sub = admin.get_subscription("t1", "s1")
        assert sub.name == "s1"
        assert sub.max_delivery_count == 3


def test_admin_create_get_delete_queue_then_use_it(broker):
    with broker.admin() as admin, broker.client(retry_total=0) as sb:
        created = admin.create_queue("created-q", lock_duration="PT10S", max_delivery_count=4)
        assert created.name == "created-q"
        got = admin.get_queue("created-q")
        assert got.name == "created-q"
        assert got.lock_duration == datetime.timedelta(seconds=10)
        assert got.max_delivery_count == 4

        # Creating it again is a conflict (HTTP 409 -> ResourceExistsError).
        # https://learn.microsoft.com/rest/api/servicebus/create-queue
        with pytest.raises(ResourceExistsError):
            admin.create_queue("created-q")

        with sb.get_queue_sender("created-q") as s:
            s.send_messages([ServiceBusMessage(f"m{i}") for i in range(3)])
        with sb.get_queue_receiver("created-q", max_wait_time=5) as r:
            got_msgs = drain(r, expect=3)
        assert sorted(body_of(m) for m in got_msgs) == [b"m0", b"m1", b"m2"]

        admin.delete_queue("created-q")
        with pytest.raises(ResourceNotFoundError):
            admin.get_queue("created-q")
        with pytest.raises(ResourceNotFoundError):
            admin.delete_queue("created-q")
        with pytest.raises(GONE):
            with sb.get_queue_sender("created-q") as s:
                s.send_messages(ServiceBusMessage(b"after delete"))


def test_admin_create_get_delete_topic_and_subscription_then_use_them(broker):
    with broker.admin() as admin, broker.client(retry_total=0) as sb:
        assert admin.create_topic("created-t").name == "created-t"
        assert admin.get_topic("created-t").name == "created-t"
        sub = admin.create_subscription("created-t", "created-s", max_delivery_count=5)
        assert sub.name == "created-s"
        got = admin.get_subscription("created-t", "created-s")
        assert got.name == "created-s"
        assert got.max_delivery_count == 5

        with sb.get_topic_sender("created-t") as s:
            s.send_messages(ServiceBusMessage(b"fan"))
        with sb.get_subscription_receiver("created-t", "created-s", max_wait_time=5) as r:
            msgs = drain(r, expect=1)
        assert [body_of(m) for m in msgs] == [b"fan"]

        admin.delete_subscription("created-t", "created-s")
        with pytest.raises(ResourceNotFoundError):
            admin.get_subscription("created-t", "created-s")
        admin.delete_topic("created-t")
        with pytest.raises(ResourceNotFoundError):
            admin.get_topic("created-t")
        with pytest.raises(GONE):
            with sb.get_topic_sender("created-t") as s:
                s.send_messages(ServiceBusMessage(b"after delete"))
