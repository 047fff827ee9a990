"""Every operation of the OpenAPI schema fuzzed against the app itself (schemathesis, in
process through WSGI): no 5xx, every status code documented, every answer as the schema
says (body and content type).

Bounded for the normal suite: a few examples per operation, no shrinking, no stateful phase.
The tenant's only provider is the sandbox; nothing is dispatched (the test's transaction never
commits, so no on-commit task runs), and any socket the app would open fails the test.
"""

import socket
import uuid
from datetime import timedelta

import pytest
import responses
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contacts.models import Contact, ContactAddress, Suppression
from conversations.models import InboundRoute
from core import status as st
from messaging.models import Message, MessageRequest
from notifications.models import Notification, NotificationTemplate
from notifications.models import Status as NotificationStatus
from tests.factories import AppFactory, ProviderFactory, TemplateFactory, TenantFactory, issue_key
from uploads.models import Media

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

config = schemathesis.Config.from_dict(
    {"phases": {"coverage": {"enabled": True}, "stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json", get_wsgi_application(), config=config
)


# The path parameters' examples in the schema: the objects they name exist, so the examples
# phase reaches the 2xx answers of every operation, not only 404s.
MESSAGE_ID = "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"
CONTACT_ID = "3f0c8a2e-5b1d-4c7e-9a6f-1d2e3f4a5b6c"
SUPPRESSION_ID = 7
ROUTE_ID = 3
MEDIA_ID = "med_5f0c3a9e1b2d4c6e8f0a1b2c3d4e5f60"


@pytest.fixture
def api_key(db):
    tenant = TenantFactory(slug="fuzz")
    app = AppFactory(tenant=tenant, name="fuzz")
    provider = ProviderFactory(tenant=tenant, name="sandbox", is_tenant_default=True)
    otp = TemplateFactory(tenant=tenant, name="otp", mode="sms", data={"body": "Code {{otp}}"})
    now = timezone.now()
    request = MessageRequest.objects.create(tenant=tenant, app=app, validity=60)
    Message.objects.create(
        id=MESSAGE_ID, tenant=tenant, app=app, request=request, channel="sms",
        provider=provider, to="+14155550100", body="Code 1", status=st.PENDING_SCHEDULED,
        scheduled_at=now + timedelta(hours=1), expires_at=now + timedelta(hours=2),
        created_at=now, updated_at=now,
    )  # fmt: skip
    contact = Contact.objects.create(id=CONTACT_ID, tenant=tenant, external_id="u-1", name="Ann")
    ContactAddress.objects.create(
        contact=contact, tenant=tenant, channel="phone", address="+14155550100",
        normalized="+14155550100",
    )  # fmt: skip
    Suppression.objects.create(
        id=SUPPRESSION_ID, tenant=tenant, channel="sms", address="+14155550199", reason="keyword"
    )
    # On one number: a POST for the app as a whole is not a 409 `route_exists`.
    InboundRoute.objects.create(
        id=ROUTE_ID, tenant=tenant, app=app, number="+14155550123",
        url="https://app.example.com/hooks/inbound",
    )  # fmt: skip
    notification = Notification.objects.create(
        app=app, name="order-delivered", status=NotificationStatus.ENABLED
    )
    NotificationTemplate.objects.create(notification=notification, channel="sms", template=otp)
    Media.objects.create(
        id=MEDIA_ID, tenant=tenant, app=app, kind="document", content_type="application/pdf",
        filename="receipt.pdf", size=333, sha256="0" * 64, file=f"{tenant.pk}/{MEDIA_ID}.pdf",
    )  # fmt: skip
    return issue_key(app)


@pytest.fixture
def wsgi_in_test_transaction():
    """As Django's test client does: a request must not close the connection that holds the
    test's transaction (the WSGI handler closes it when a request ends)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def no_network(monkeypatch):
    """Whatever the fuzzer creates (a provider with an apiBaseUrl, a callback URL), nothing
    may leave the process."""

    def refuse(*args, **kwargs):
        raise AssertionError("the API opened a network connection during the fuzz test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        yield


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_api_answers_as_its_schema_says(case, api_key, wsgi_in_test_transaction, no_network):
    if "Idempotency-Key" in case.headers:
        # A fresh key per case: the generator repeats one value, and the same key with another
        # body is a (documented) 409 that would hide the validation of every later body.
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    case.call_and_validate(headers={"X-API-Key": api_key}, checks=CHECKS)
