"""Shared fixtures: a tenant with an app and its key, a default sandbox provider, templates,
and an API client that sends the key."""

import pytest
from rest_framework.test import APIClient

from tests.factories import AppFactory, ProviderFactory, TemplateFactory, TenantFactory, issue_key


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="acme", placeholders={"company": "Acme"})


@pytest.fixture
def app(tenant):
    return AppFactory(tenant=tenant, name="shop")


@pytest.fixture
def api_key(app):
    return issue_key(app)


@pytest.fixture
def sandbox(tenant):
    return ProviderFactory(tenant=tenant, name="sandbox", is_tenant_default=True)


@pytest.fixture
def templates(tenant):
    return {
        "otp": TemplateFactory(
            tenant=tenant, name="otp", mode="sms", data={"body": "Your {{company}} code is {{otp}}"}
        ),
        "order": TemplateFactory(
            tenant=tenant,
            name="order",
            mode="email",
            data={
                "subject": "Order {{orderId}}",
                "body": "<p>Hi {{name}}</p>",
                "format": "text/html",
            },
        ),
        "wa": TemplateFactory(
            tenant=tenant, name="wa", mode="whatsapp", data={"body": "Hi {{name}}"}
        ),
    }


@pytest.fixture
def client(api_key):
    c = APIClient()
    c.credentials(HTTP_X_API_KEY=api_key)
    return c


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """Run on-commit work (the enqueued tasks, inline in sync mode) as a worker would."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run
