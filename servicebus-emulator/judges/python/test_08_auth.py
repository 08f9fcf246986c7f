"""Behaviour 8: a wrong SAS key (and an unknown key name) is refused at CBS put-token and the SDK
raises ServiceBusAuthenticationError; an expired SAS token is refused too; the right key works.

https://learn.microsoft.com/azure/service-bus-messaging/service-bus-sas
https://learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-request-response (put-token)
"""

import time

import pytest
from azure.core.credentials import AccessToken
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus._pyamqp.utils import generate_sas_token
from azure.servicebus.exceptions import ServiceBusAuthenticationError, ServiceBusAuthorizationError

from conftest import SAS_KEY, SAS_KEY_NAME, body_of, drain

REFUSED = (ServiceBusAuthenticationError, ServiceBusAuthorizationError)


def test_wrong_key_is_refused_for_send_and_receive(broker):
    with broker.client(key="not-the-key", retry_total=0) as bad:
        with pytest.raises(ServiceBusAuthenticationError):
            with bad.get_queue_sender("qlong") as s:
                s.send_messages(ServiceBusMessage(b"should not arrive"))
        with pytest.raises(ServiceBusAuthenticationError):
            with bad.get_queue_receiver("qlong", max_wait_time=3) as r:
                r.receive_messages(max_message_count=1, max_wait_time=3)
    with broker.client() as good, good.get_queue_receiver("qlong", max_wait_time=2) as r:
        assert r.receive_messages(max_message_count=1, max_wait_time=2) == []


def test_unknown_key_name_is_refused(broker):
    with broker.client(key_name="NoSuchPolicy", retry_total=0) as bad:
        with pytest.raises(REFUSED):
            with bad.get_queue_sender("qlong") as s:
                s.send_messages(ServiceBusMessage(b"x"))


def test_right_key_works(broker):
    with broker.client() as sb:
        with sb.get_queue_sender("qlong") as s:
            s.send_messages(ServiceBusMessage(b"authorized"))
        with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
            assert [body_of(m) for m in drain(r, expect=1)] == [b"authorized"]


class _FixedSasToken:
    """A credential that hands the SDK a pre-built SAS token but tells it the token is valid for
    an hour, so the SDK's own expiry check (cbs.py) cannot stop an expired token: only the broker
    can refuse it."""

    token_type = b"servicebus.windows.net:sastoken"

    def __init__(self, token: str):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self.token, int(time.time()) + 3600)


def _sas_client(broker, se: int, key: str = SAS_KEY) -> ServiceBusClient:
    audience = f"sb://127.0.0.1:{broker.port}/qlong"
    token = generate_sas_token(audience, SAS_KEY_NAME, key, se)
    return ServiceBusClient(
        f"sb://127.0.0.1:{broker.port}",
        _FixedSasToken(token),
        use_tls=False,  # what from_connection_string sets for UseDevelopmentEmulator=true
        retry_total=0,
    )


def test_valid_presigned_sas_token_works(broker):
    with _sas_client(broker, int(time.time()) + 600) as sb:
        with sb.get_queue_sender("qlong") as s:
            s.send_messages(ServiceBusMessage(b"with-token"))
    with broker.client() as sb, sb.get_queue_receiver("qlong", max_wait_time=5) as r:
        assert [body_of(m) for m in drain(r, expect=1)] == [b"with-token"]


def test_expired_sas_token_is_refused(broker):
    # signed with the right key, but `se` is in the past
    with _sas_client(broker, int(time.time()) - 120) as sb:
        with pytest.raises(REFUSED):
            with sb.get_queue_sender("qlong") as s:
                s.send_messages(ServiceBusMessage(b"expired token"))
    with broker.client() as sb, sb.get_queue_receiver("qlong", max_wait_time=2) as r:
        assert r.receive_messages(max_message_count=1, max_wait_time=2) == []


def test_token_signed_with_wrong_key_is_refused(broker):
    with _sas_client(broker, int(time.time()) + 600, key="wrong") as sb:
        with pytest.raises(REFUSED):
            with sb.get_queue_sender("qlong") as s:
                s.send_messages(ServiceBusMessage(b"forged"))


def _config_with(**ns_extra):
    import copy

    from conftest import DEFAULT_CONFIG

    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg["UserConfig"]["Namespaces"][0].update(ns_extra)
    return cfg


def test_custom_shared_access_policy_replaces_the_default(broker_factory):
    """Config extension: namespace SharedAccessPolicies. Only the configured policy signs valid
    tokens; the default key is then refused like any wrong key."""
    b = broker_factory(_config_with(SharedAccessPolicies=[{"Name": "AppPolicy", "Key": "app-secret-key"}]))
    with b.client(key="app-secret-key", key_name="AppPolicy") as sb:
        with sb.get_queue_sender("qlong") as s:
            s.send_messages(ServiceBusMessage(b"custom-policy"))
        with sb.get_queue_receiver("qlong", max_wait_time=5) as r:
            assert [body_of(m) for m in drain(r, expect=1)] == [b"custom-policy"]
    with b.client(retry_total=0) as default_key:  # RootManageSharedAccessKey / SAS_KEY_VALUE
        with pytest.raises(REFUSED):
            with default_key.get_queue_sender("qlong") as s:
                s.send_messages(ServiceBusMessage(b"x"))
    with b.client(key="app-secret-key", key_name="RootManageSharedAccessKey", retry_total=0) as mixed:
        with pytest.raises(REFUSED):
            with mixed.get_queue_sender("qlong") as s:
                s.send_messages(ServiceBusMessage(b"x"))
