import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from tenants.services import tenant_app_key_issue


class Command(BaseCommand):
    help = "Create a tenant and an app (each if new), issue an API key, print it as one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--app", required=True, help="the app's name")
        parser.add_argument("--name", default="", help="the tenant's display name")

    def handle(self, *args, slug: str, app: str, name: str, **options) -> None:
        if slugify(slug) != slug:
            raise CommandError(
                f"'{slug}' is not a valid slug (lowercase letters, digits, '-', '_')."
            )
        if not app.strip():
            raise CommandError("--app must not be empty.")
        issued = tenant_app_key_issue(slug=slug, app_name=app.strip(), tenant_name=name)
        line = {
            "tenant": issued.tenant.slug,
            "app": issued.app.name,
            "apiKey": issued.raw_key,
            "webhookSecret": issued.app.webhook_secret,
        }
        self.stdout.write(json.dumps(line))
