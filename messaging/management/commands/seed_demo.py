"""Seed the `demo` tenant for `make run`: sandbox provider, sample templates, an app and its
key, an admin user. Safe to run again: it reuses what exists and issues a fresh key."""

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from messaging.models import Template
from providers.models import Provider
from tenants.services import tenant_app_key_issue

TEMPLATES = [
    ("otp", "sms", {"body": "Your {{company}} login code is {{otp}}. It expires in 10 minutes."}),
    (
        "order-processed",
        "email",
        {
            "subject": "Order {{orderId}} is on its way",
            "body": "<p>Dear {{name}},</p><p>Your order <b>{{orderId}}</b> has shipped.</p>"
            "<p>The {{company}} team</p>",
            "format": "text/html",
        },
    ),
    (
        "order-delivered",
        "whatsapp",
        {
            "body": "Hi {{name}}, your order {{orderId}} has been delivered.",
            "buttons": [{"quickReply": {"value": "Confirm delivery"}}],
        },
    ),
    ("promo", "viber", {"body": "{{name}}, {{company}} has a new offer for you."}),
    ("rich-card", "rcs", {"body": "Hi {{name}}, track your order {{orderId}} here."}),
    ("app-alert", "push", {"body": "{{company}}: your order {{orderId}} is ready."}),
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant and print its API key and admin password."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-json", action="store_true", help="print one JSON line")

    def handle(self, *args, as_json: bool = False, **options) -> None:
        issued = tenant_app_key_issue(slug="demo", app_name="demo-app", tenant_name="Demo")
        tenant = issued.tenant
        if not tenant.placeholders:
            tenant.placeholders = {"company": "Demo Co"}
            tenant.save(update_fields=["placeholders"])
        provider, created = Provider.objects.get_or_create(
            tenant=tenant,
            name="sandbox",
            defaults={
                "provider_type": "sandbox",
                "channels": ["sms", "email", "whatsapp", "viber", "rcs", "push"],
                "is_tenant_default": True,
                "default_sender": "DEMO",
            },
        )
        if created:
            provider.credentials = {}
            provider.save()
        for name, mode, data in TEMPLATES:
            Template.objects.get_or_create(
                tenant=tenant, name=name, defaults={"mode": mode, "data": data}
            )
        password = secrets.token_urlsafe(12)
        User = get_user_model()
        user, _ = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        result = {
            "tenant": tenant.slug,
            "app": issued.app.name,
            "apiKey": issued.raw_key,
            "webhookSecret": issued.app.webhook_secret,
            "adminUser": user.username,
            "adminPassword": password,
            # Where providers are told to post reports (from HOST/PORT unless PUBLIC_BASE_URL).
            "publicBaseUrl": settings.PUBLIC_BASE_URL,
            "statusWebhookUrl": provider.status_webhook_url,
        }
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        for key, value in result.items():
            self.stdout.write(f"{key}: {value}")
