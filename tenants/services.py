from dataclasses import dataclass

from django.db import transaction

from .models import ApiKey, App, Tenant


@dataclass
class IssuedKey:
    tenant: Tenant
    app: App
    api_key: ApiKey
    raw_key: str


@transaction.atomic
def tenant_app_key_issue(*, slug: str, app_name: str, tenant_name: str = "") -> IssuedKey:
    """Create the tenant and the app if new, and issue a fresh API key for the app."""
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": tenant_name or slug})
    app, _ = App.objects.get_or_create(tenant=tenant, name=app_name)
    key, raw = ApiKey.issue(app)
    return IssuedKey(tenant=tenant, app=app, api_key=key, raw_key=raw)
