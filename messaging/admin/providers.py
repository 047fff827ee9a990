"""Providers in the admin: per-type credential fields (secrets write-only), webhook URLs to
copy, "send a test message" through the provider, and "test connection" for the types that
have a cheap authenticated call."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import urlencode

import requests
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime

from core.http import describe_error
from providers.backends import backend_types
from providers.backends.base import Backend, CredentialsInvalid, SendError
from providers.catalogue import CatalogueError, catalogue_backend, catalogue_sync
from providers.circuit import CLOSED, OPEN, circuit_of, circuit_state
from providers.forms import (
    CHANNEL_LABELS,
    CHOOSE_TYPE,
    TestMessageForm,
    backup_field_names,
    credential_field_names,
    provider_form_class,
)
from providers.models import Provider
from providers.services import provider_backup_names, provider_create, provider_update
from tenants.models import App, Tenant
from tenants.scoping import TenantScopedAdmin, user_tenants

from ..api.errors import ApiError, ApiErrors
from ..models import Message
from ..services.accept import message_accept
from .log import is_settled, status_badge

logger = logging.getLogger(__name__)

CONSOLE_APP = "admin-console"  # the tenant's internal app that admin test messages go out as


def _copy_field(value: str, label: str) -> str:
    return format_html(
        '<span class="copy-field"><input type="text" readonly value="{}" aria-label="{}" '
        'class="vTextField" data-copy-source><button type="button" class="button" '
        "data-copy>Copy</button></span>",
        value,
        label,
    )


def _short_label(provider_type: str) -> str:
    backend = backend_types().get(provider_type)
    return backend.label.split(" (", 1)[0] if backend else provider_type


class ProviderTypeFilter(admin.SimpleListFilter):
    title = "provider type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        used = model_admin.get_queryset(request).values_list("provider_type", flat=True)
        return [(t, _short_label(t)) for t in sorted(set(used))]

    def queryset(self, request, queryset):
        return queryset.filter(provider_type=self.value()) if self.value() else queryset


@admin.register(Provider)
class ProviderAdmin(TenantScopedAdmin):
    list_display = ("name", "type_short", "channel_list", "is_active", "is_tenant_default")
    list_filter = (ProviderTypeFilter, "is_active", "tenant")
    search_fields = ("name",)
    exclude = ("credentials_encrypted",)  # never shown, not even encrypted

    class Media:
        css = {"all": ("providers/provider_admin.css",)}
        js = ("providers/provider_admin.js",)

    # --- which type and which tenant -------------------------------------------------------
    def _chosen_type(self, request: HttpRequest, obj: Provider | None) -> str | None:
        if obj is not None:
            return obj.provider_type
        value = request.POST.get("provider_type") or request.GET.get("provider_type")
        return value if value in backend_types() else None

    def _fixed_tenant(self, request: HttpRequest) -> Tenant | None:
        """The tenant a user with one tenant adds to (set for them, not shown)."""
        if request.user.is_superuser:
            return None
        tenants = list(user_tenants(request, self.add_roles)[:2])
        return tenants[0] if len(tenants) == 1 else None

    def _shows_tenant(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or user_tenants(request, self.add_roles).count() > 1

    # --- the form --------------------------------------------------------------------------
    def get_fieldsets(self, request: HttpRequest, obj: Provider | None = None):
        ptype = self._chosen_type(request, obj)
        if obj is None and ptype is None:
            return [(None, {"fields": ["provider_type"]})]
        main = ["name", "provider_type" if obj is None else "type_label", "channels"]
        if self._shows_tenant(request):
            main.insert(0, "tenant")
        main += ["default_sender", "is_active", "is_tenant_default"]
        fieldsets = [(None, {"fields": main})]
        credentials = credential_field_names(ptype)
        if credentials:
            fieldsets.append(
                (
                    "Credentials",
                    {
                        "fields": credentials,
                        "description": "Stored encrypted. Secrets are write-only: once saved "
                        "they are never shown again, only that they are set.",
                    },
                )
            )
        else:
            main.append("credentials_note")
        failover = backup_field_names(ptype) + (["failover_state"] if obj is not None else [])
        if failover:
            fieldsets.append(
                (
                    "Failover",
                    {
                        "fields": failover,
                        "description": "When this provider is down (timeouts, 5xx, 429 after "
                        "its retries, an open circuit), a message goes out through the backup "
                        "of its channel. Permanent refusals never fail over.",
                    },
                )
            )
        if obj is not None:
            fieldsets.append(
                (
                    "Webhooks",
                    {
                        "fields": ["inbound_webhook", "status_webhook"],
                        "description": "Give these URLs to the provider: it reports delivery "
                        "to the status URL and forwards replies to the inbound URL.",
                    },
                )
            )
            if "whatsapp" in obj.channels:
                fieldsets.append(("WhatsApp templates", {"fields": ["template_catalogue"]}))
            fieldsets.append(
                ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]})
            )
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Provider | None = None):
        fields = ["credentials_note"]
        if obj is not None:
            fields += [
                "tenant", "type_label", "inbound_webhook", "status_webhook", "created_at",
                "updated_at", "template_catalogue", "failover_state",
            ]  # fmt: skip
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = provider_form_class(
            self._chosen_type(request, obj),
            adding=obj is None,
            fixed_tenant=self._fixed_tenant(request),
        )
        return super().get_form(request, obj, change, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        ptype = self._chosen_type(request, None)
        if ptype and not initial.get("name"):
            initial["name"] = ptype
        return initial

    # --- read-only displays ----------------------------------------------------------------
    @admin.display(description="Provider type", ordering="provider_type")
    def type_label(self, obj: Provider) -> str:
        backend = backend_types().get(obj.provider_type)
        return backend.label if backend else f"{obj.provider_type} (unknown type)"

    @admin.display(description="Type", ordering="provider_type")
    def type_short(self, obj: Provider) -> str:
        return _short_label(obj.provider_type)

    @admin.display(description="Channels")
    def channel_list(self, obj: Provider) -> str:
        return ", ".join(CHANNEL_LABELS.get(c, c) for c in obj.channels)

    @admin.display(description="Now")
    def failover_state(self, obj: Provider) -> str:
        """Its backups and its circuit breaker, as dispatch sees them."""
        names = provider_backup_names(obj)
        backups = (
            "; ".join(f"{CHANNEL_LABELS.get(ch, ch)} → {name}" for ch, name in names.items())
            if names
            else "No backup: while it is down, its messages wait and are retried."
        )
        now = timezone.now()
        state = circuit_state(obj, now)
        circuit = circuit_of(obj)
        if state == CLOSED:
            failing = circuit.failures if circuit is not None else 0
            text = "closed" + (f" ({failing} failures in a row)" if failing else "")
        elif state == OPEN:
            text = format_html(
                "<strong>open</strong> until {} after {} failures in a row — not called; "
                "messages go to the backup or wait",
                date_format(localtime(circuit.opened_until), "DATETIME_FORMAT"),
                circuit.failures,
            )
        else:
            text = "half-open: the next message tries it"
        if circuit is not None and circuit.last_error and state != CLOSED:
            text = format_html("{} (last error: {})", text, circuit.last_error)
        return format_html("Backups: {}<br>Circuit: {}", backups, text)

    @admin.display(description="Credentials")
    def credentials_note(self, obj: Provider | None) -> str:
        return "This provider type needs no credentials."

    @admin.display(description="Inbound webhook URL")
    def inbound_webhook(self, obj: Provider) -> str:
        if not self._has_webhook(obj, "parse_inbound_webhook"):
            return "This provider type takes no inbound messages."
        return _copy_field(obj.inbound_webhook_url, "Inbound webhook URL")

    @admin.display(description="Status webhook URL")
    def status_webhook(self, obj: Provider) -> str:
        if not self._has_webhook(obj, "parse_status_webhook"):
            return "This provider type reports no delivery status by webhook."
        return _copy_field(obj.status_webhook_url, "Status webhook URL")

    @admin.display(description="Catalogue")
    def template_catalogue(self, obj: Provider) -> str:
        """Whether this provider's approved templates are known (accept checks sends against
        them), how many, and the last sync's problem."""
        backend = catalogue_backend(obj)
        if backend is None:
            return (
                "Not available for this provider type: it has no template list to sync, "
                "so its templates are not checked before sending."
            )
        if obj.templates_synced_at is None:
            text = format_html(
                "{}",
                "Never synced: sends naming a template are not checked until it is. "
                "Use “Refresh templates” above.",
            )
        else:
            count = obj.templates.count()
            sendable = obj.templates.filter(status__in=backend.template_sendable).count()
            text = format_html(
                '<a href="{}?provider__id__exact={}">{} templates</a> ({} may be sent), synced {}.',
                reverse("admin:providers_providertemplate_changelist"),
                obj.pk,
                count,
                sendable,
                date_format(localtime(obj.templates_synced_at), "DATETIME_FORMAT"),
            )
        if obj.templates_sync_error:
            text = format_html(
                '{} <span class="errornote-inline">Last refresh failed: {}</span>',
                text,
                obj.templates_sync_error,
            )
        return text

    @staticmethod
    def _has_webhook(obj: Provider, method: str) -> bool:
        backend = backend_types().get(obj.provider_type)
        return backend is not None and getattr(backend, method) is not getattr(Backend, method)

    def get_list_display(self, request: HttpRequest):
        if self._shows_tenant(request):
            return ("name", "tenant", *self.list_display[1:])
        return self.list_display

    def get_list_filter(self, request: HttpRequest):
        filters = super().get_list_filter(request)
        if not self._shows_tenant(request):
            filters = [f for f in filters if not (isinstance(f, tuple) and f[0] == "tenant")]
        return filters

    # --- saving goes through the services the API uses -------------------------------------
    def save_model(self, request, obj: Provider, form, change: bool) -> None:
        if not change:
            created = provider_create(
                tenant=obj.tenant,
                name=obj.name,
                provider_type=obj.provider_type,
                credentials=form.credentials,
                channels=obj.channels,
                default_sender=obj.default_sender,
                is_active=obj.is_active,
                is_tenant_default=obj.is_tenant_default,
                backups=form.backups,
            )
            obj.pk = created.pk
            obj.refresh_from_db()
            return
        provider_update(
            provider=Provider.objects.get(pk=obj.pk),
            changes={
                "name": obj.name,
                "channels": obj.channels,
                "credentials": form.credentials,
                "defaultSender": obj.default_sender,
                "isActive": obj.is_active,
                "isTenantDefault": obj.is_tenant_default,
                "backups": form.backups,
            },
            # The form holds every credential (kept secrets included): a cleared optional
            # value must go, not be merged back.
            replace_credentials=True,
        )
        obj.refresh_from_db()

    # --- views -----------------------------------------------------------------------------
    def _deny_without_role(self, request: HttpRequest) -> None:
        # A support or developer user is refused outright (403); a tenant admin asking for
        # another tenant's provider gets a 404 from the scoping.
        if not self.has_change_permission(request):
            raise PermissionDenied

    def add_view(self, request, form_url="", extra_context=None):
        if request.method == "POST" and CHOOSE_TYPE in request.POST:
            if not self.has_add_permission(request):
                raise PermissionDenied
            # Reload the form for the picked type; only harmless fields travel in the URL.
            keep = {
                k: request.POST[k]
                for k in ("provider_type", "tenant", "name", "default_sender")
                if request.POST.get(k)
            }
            return HttpResponseRedirect(f"{request.path}?{urlencode(keep)}")
        return super().add_view(request, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._deny_without_role(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._deny_without_role(request)
        return super().history_view(request, object_id, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._deny_without_role(request)
        return super().delete_view(request, object_id, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["choosing_type"] = add and self._chosen_type(request, None) is None
        if obj is not None and obj.pk:
            context["test_message_url"] = reverse(
                "admin:providers_provider_test_message", args=[obj.pk]
            )
            backend = backend_types().get(obj.provider_type)
            if backend is not None and backend.can_test_connection():
                context["test_connection_url"] = reverse(
                    "admin:providers_provider_test_connection", args=[obj.pk]
                )
            if catalogue_backend(obj) is not None:
                context["refresh_templates_url"] = reverse(
                    "admin:providers_provider_refresh_templates", args=[obj.pk]
                )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def response_add(self, request, obj, post_url_continue=None):
        if any(k in request.POST for k in (IS_POPUP_VAR, "_addanother", "_continue")):
            return super().response_add(request, obj, post_url_continue)
        # Straight to the provider's page: its webhook URLs are what the user needs next.
        self.message_user(
            request,
            format_html(
                "The provider “{}” was added. Give the provider its webhook URLs below, "
                "then send a test message.",
                obj.name,
            ),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:providers_provider_change", args=[obj.pk]))

    def get_urls(self):
        urls = super().get_urls()
        test_message = path(
            "<path:object_id>/test-message/",
            self.admin_site.admin_view(self.test_message_view),
            name="providers_provider_test_message",
        )
        test_connection = path(
            "<path:object_id>/test-connection/",
            self.admin_site.admin_view(self.test_connection_view),
            name="providers_provider_test_connection",
        )
        refresh_templates = path(
            "<path:object_id>/refresh-templates/",
            self.admin_site.admin_view(self.refresh_templates_view),
            name="providers_provider_refresh_templates",
        )
        return [test_message, test_connection, refresh_templates, *urls]

    def refresh_templates_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Sync the provider's WhatsApp template catalogue now (a POST: it calls out)."""
        self._deny_without_role(request)
        provider = self.get_object(request, unquote(object_id))
        if provider is None:
            raise Http404("No such provider.")
        if not self.has_change_permission(request, provider):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        change_url = reverse("admin:providers_provider_change", args=[provider.pk])
        try:
            done = catalogue_sync(provider)
        except CatalogueError as exc:
            self.message_user(
                request,
                format_html("“{}”: the templates were not refreshed. {}", provider.name, exc),
                messages.ERROR,
            )
        else:
            self.message_user(
                request,
                format_html(
                    "“{}”: {} templates listed ({} new, {} no longer listed and removed).",
                    provider.name,
                    done.total,
                    done.added,
                    done.removed,
                ),
                messages.SUCCESS,
            )
        return HttpResponseRedirect(change_url)

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Make the provider's cheapest authenticated call with the stored credentials and
        say what it answered (a POST: it calls out and may cache a token)."""
        self._deny_without_role(request)
        provider = self.get_object(request, unquote(object_id))
        if provider is None:
            raise Http404("No such provider.")
        if not self.has_change_permission(request, provider):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        change_url = reverse("admin:providers_provider_change", args=[provider.pk])
        backend = backend_types().get(provider.provider_type)
        if backend is None or not backend.can_test_connection():
            self.message_user(
                request,
                format_html("“{}”: this provider type has no connection test.", provider.name),
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        level, text = self._connection_outcome(provider)
        self.message_user(request, format_html("“{}”: {}", provider.name, text), level)
        return HttpResponseRedirect(change_url)

    @staticmethod
    def _connection_outcome(provider: Provider) -> tuple[int, str]:
        try:
            said = provider.backend().test_connection()
        except SendError as exc:
            retry = "" if exc.permanent else " (a passing problem: try again later)"
            return messages.ERROR, f"connection test failed: {exc.description} [{exc.code}]{retry}"
        except CredentialsInvalid as exc:
            return messages.ERROR, f"the stored credentials are invalid: {exc}"
        except requests.RequestException as exc:
            return messages.ERROR, f"could not reach the provider. {describe_error(exc)}"
        except Exception as exc:  # an adapter's bug: say so, keep the page
            logger.exception("Connection test of provider %s failed", provider.pk)
            return messages.ERROR, f"connection test failed unexpectedly: {type(exc).__name__}."
        return messages.SUCCESS, f"connection works. {said}".rstrip()

    def _sent_context(self, request: HttpRequest, provider: Provider) -> dict:
        """The test message just sent (?sent=<id>), followed live on the page: its status
        as the page first shows it, and the JSON endpoint the page polls."""
        sent_id = request.GET.get("sent", "")
        try:
            sent_uuid = uuid.UUID(sent_id)
        except ValueError:
            return {}
        sent = (
            Message.objects.filter(pk=sent_uuid, provider=provider)
            .only("id", "to", "channel", "status", "error_code", "error_description")
            .first()
        )
        if sent is None:
            return {}
        return {
            "sent": sent,
            "sent_badge": status_badge(sent.status),
            "sent_settled": is_settled(sent.status),
            "sent_status_url": reverse("admin:messaging_message_status", args=[sent.pk]),
            "sent_url": reverse("admin:messaging_message_change", args=[sent.pk]),
        }

    def test_message_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Send one message through this provider to an address the admin types."""
        self._deny_without_role(request)
        provider = self.get_object(request, unquote(object_id))
        if provider is None:
            raise Http404("No such provider.")
        if not self.has_change_permission(request, provider):
            raise PermissionDenied
        form = TestMessageForm(request.POST or None, provider=provider)
        if request.method == "POST" and form.is_valid():
            app, _ = App.objects.get_or_create(tenant=provider.tenant, name=CONSOLE_APP)
            try:
                # Dispatch is enqueued when message_accept's transaction commits.
                # A test goes now, quiet hours or not: the admin is waiting for it.
                _, accepted = message_accept(app=app, body=form.send_body(), quiet=False)
            except (ApiError, ApiErrors) as exc:
                form.add_api_errors(exc)
            else:
                message = accepted[0]
                self.message_user(
                    request,
                    format_html(
                        "Test message accepted: {} to {} through “{}”. Its status follows below.",
                        CHANNEL_LABELS.get(message.channel, message.channel),
                        message.to,
                        provider.name,
                    ),
                    messages.SUCCESS,
                )
                # Back to this page, which follows the message's status live.
                url = reverse("admin:providers_provider_test_message", args=[provider.pk])
                return HttpResponseRedirect(f"{url}?{urlencode({'sent': message.id})}")
        adminform = helpers.AdminForm(
            form, [(None, {"fields": list(form.fields)})], {}, model_admin=self
        )
        context = {
            **self.admin_site.each_context(request),
            **self._sent_context(request, provider),
            "title": f"Send a test message through {provider.name}",
            "subtitle": None,
            "opts": self.opts,
            "original": provider,
            "provider": provider,
            "adminform": adminform,
            "form": form,
            "errors": form.errors,
            "media": self.media + form.media,
            "has_channels": bool(form.fields["channel"].choices),
            "change_url": reverse("admin:providers_provider_change", args=[provider.pk]),
        }
        return TemplateResponse(request, "admin/providers/provider/test_message.html", context)
