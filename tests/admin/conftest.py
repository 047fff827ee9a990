"""Two tenants with a row of everything each, and users of each role."""

import pytest
from django.utils import timezone

from messaging.models import Message, MessageRequest
from tests.factories import AppFactory, ProviderFactory, TemplateFactory, TenantFactory, staff_user


def _tenant_with_rows(slug: str):
    tenant = TenantFactory(slug=slug)
    app = AppFactory(tenant=tenant, name=f"{slug}-app")
    provider = ProviderFactory(tenant=tenant, name=f"{slug}-sandbox", is_tenant_default=True)
    template = TemplateFactory(tenant=tenant, name=f"{slug}-otp")
    request = MessageRequest.objects.create(tenant=tenant, app=app, validity=60)
    now = timezone.now()
    message = Message.objects.create(
        tenant=tenant, app=app, request=request, channel="sms", provider=provider,
        to="+14155550100" if slug == "alpha" else "+14155550199", body=f"{slug} body",
        expires_at=now + timezone.timedelta(hours=1), created_at=now, updated_at=now,
    )  # fmt: skip
    return {
        "tenant": tenant,
        "app": app,
        "provider": provider,
        "template": template,
        "message": message,
    }


@pytest.fixture
def alpha(db):
    return _tenant_with_rows("alpha")


@pytest.fixture
def beta(db):
    return _tenant_with_rows("beta")


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


@pytest.fixture
def alpha_admin(alpha):
    return staff_user("alice", tenant=alpha["tenant"], role="tenant_admin")


@pytest.fixture
def alpha_support(alpha):
    return staff_user("sam", tenant=alpha["tenant"], role="support")


@pytest.fixture
def alpha_developer(alpha):
    return staff_user("dev", tenant=alpha["tenant"], role="developer")
