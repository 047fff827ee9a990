"""The sandbox provider's outbox: what it "sent", as phone screens and a mailbox.

Phone channels (SMS, WhatsApp, Viber, RCS, push) show one conversation per provider, channel
and recipient: the recipient's screen, with the sender's name at the top, the messages the
sandbox delivered and the replies it received (InboundMessage rows from that number),
interleaved by time. "Simulate a reply" posts the sandbox's inbound JSON through
`inbound_webhook_receive`, the path a real provider's inbound webhook takes. Email shows a
mailbox: subjects, then one email's headers, its HTML in a sandboxed iframe and its text.
Tenant admins only; another tenant's outbox is a 404.
"""

from __future__ import annotations

import json
import re
import uuid
from itertools import chain

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from core import status as st
from providers.admin.base import ReadOnly
from providers.backends import WebhookRejected, WebhookRequest
from providers.backends.content import MEDIA_KINDS
from providers.backends.sandbox import PHONE_CHANNELS
from providers.models import InboundMessage, Provider, SandboxOutboxEntry, channel_label
from tenants.scoping import ADMIN_ONLY, tenant_ids

from ..models import Message
from ..services.webhooks import inbound_webhook_receive

SCREEN_CHANNELS = (*PHONE_CHANNELS, "push")  # shown as a phone screen; email: the mailbox
REPLY_CHANNELS = PHONE_CHANNELS  # a push notification cannot be answered
CONVERSATION_LIMIT = 200  # bubbles on one screen: the most recent
MAX_REPLY = 1600
# Put in front of an email's HTML in its sandboxed iframe: nothing remote is loaded (no
# tracking pixel fires, the page works offline); inline styles and data: images still show.
EMAIL_CSP = (
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
)


def _button_label(button) -> str:
    """A button's text, whatever the shape ({"quickReply": {"value": ...}}, {"title": ...})."""
    if isinstance(button, str):
        return button
    if isinstance(button, dict):
        for key in ("text", "title", "label", "value"):
            if isinstance(button.get(key), str):
                return button[key]
        for value in button.values():
            label = _button_label(value)
            if label:
                return label
    return ""


def _media_label(media) -> str:
    if not isinstance(media, dict):
        return ""
    for kind in MEDIA_KINDS:  # OS1's {"<kind>": {...}}: its kind, and what the item says
        item = media.get(kind)
        item = item[0] if isinstance(item, list) and item else item
        if isinstance(item, dict):
            label = f"{kind}: {_media_label(item)}"
            if item.get("duration"):
                label += f" ({item['duration']} s)"
            return label
    for key in ("caption", "filename", "url", "mediaId", "id", "type"):
        if media.get(key):
            return str(media[key])
    return "attachment"


def _cards(payload: dict) -> list[dict]:
    """An RCS card's (or each carousel card's) title, description, media and buttons."""
    carousel = payload.get("carousel")
    raw = [payload.get("card")]
    if isinstance(carousel, dict) and isinstance(carousel.get("cards"), list):
        raw = carousel["cards"]
    return [
        {
            "title": str(c.get("title") or ""),
            "description": str(c.get("description") or ""),
            "media": _media_label(c.get("media")),
            "buttons": [b for b in map(_button_label, c.get("buttons") or []) if b],
        }
        for c in raw
        if isinstance(c, dict)
    ]


@admin.register(SandboxOutboxEntry)
class SandboxOutboxAdmin(ReadOnly):
    tenant_path = "provider__tenant"
    view_roles = ADMIN_ONLY
    list_per_page = 25

    # --- URLs ------------------------------------------------------------------------------
    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path(
                "conversation/<int:provider_id>/<str:channel>/",
                wrap(self.conversation_view),
                name=f"{prefix}_conversation",
            ),
            path(
                "conversation/<int:provider_id>/<str:channel>/reply/",
                wrap(require_POST(self.reply_view)),
                name=f"{prefix}_reply",
            ),
            *super().get_urls(),
        ]

    def conversation_url(self, provider_id: int, channel: str, to: str, reply=False) -> str:
        """The conversation's page, or with `reply` the URL its reply form posts to."""
        name = "reply" if reply else "conversation"
        url = reverse(
            f"{self.admin_site.name}:providers_sandboxoutboxentry_{name}",
            args=[provider_id, channel],
        )
        return f"{url}?{urlencode({'to': to})}"

    # --- scope -----------------------------------------------------------------------------
    def _require_view(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def _providers(self, request: HttpRequest) -> QuerySet[Provider]:
        qs = Provider.objects.filter(provider_type="sandbox").select_related("tenant")
        if request.user.is_superuser:
            return qs
        return qs.filter(tenant_id__in=tenant_ids(request, self.view_roles))

    def _context(self, request: HttpRequest, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "has_view_permission": True,
            "outbox_url": reverse(
                f"{self.admin_site.name}:providers_sandboxoutboxentry_changelist"
            ),
            **extra,
        }

    # --- the outbox: phones and mailbox ----------------------------------------------------
    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        self._require_view(request)
        providers = list(self._providers(request).order_by("tenant__name", "name"))
        box = "mail" if request.GET.get("box") == "mail" else "phones"
        entries = self.get_queryset(request)
        provider = None
        if request.GET.get("provider"):
            provider = next((p for p in providers if str(p.pk) == request.GET["provider"]), None)
            if provider is None:
                raise Http404("No such provider.")
            entries = entries.filter(provider=provider)
        query = request.GET.get("q", "").strip()
        if query:
            match = Q(to__icontains=query)
            digits = re.sub(r"\D", "", query).lstrip("0")
            if digits and len(digits) >= 3:
                match |= Q(to__contains=digits)
            if box == "mail":
                match |= Q(subject__icontains=query)
            entries = entries.filter(match)
        if box == "mail":
            rows = (
                entries.filter(channel="email")
                .select_related("provider")
                .order_by("-created_at", "-pk")
            )
        else:
            rows = self._conversations(entries)
        page = Paginator(rows, self.list_per_page).get_page(request.GET.get("page"))
        if box == "phones":
            for conv in page.object_list:
                conv["url"] = self.conversation_url(
                    conv["provider_id"], conv["channel"], conv["to"]
                )
                conv["channel_label"] = channel_label(conv["channel"])
        # The query string that pagination and the tabs carry along.
        keep = {"box": box, "provider": request.GET.get("provider", ""), "q": query}
        keep = {k: v for k, v in keep.items() if v}
        context = self._context(
            request,
            title="Sandbox outbox",
            box=box,
            page=page,
            providers=providers,
            provider=provider,
            many_tenants=len({p.tenant_id for p in providers}) > 1,
            query=query,
            keep=urlencode(keep),
            keep_box=urlencode({k: v for k, v in keep.items() if k != "box"}),
            **(extra_context or {}),
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/providers/sandboxoutboxentry/outbox.html", context)

    def _conversations(self, entries: QuerySet[SandboxOutboxEntry]):
        last = SandboxOutboxEntry.objects.filter(
            provider_id=OuterRef("provider_id"), channel=OuterRef("channel"), to=OuterRef("to")
        ).order_by("-created_at", "-pk")
        return (
            entries.filter(channel__in=SCREEN_CHANNELS)
            .values("provider_id", "provider__name", "provider__tenant__name", "channel", "to")
            .annotate(last_at=Max("created_at"), count=Count("id"))
            .annotate(
                last_body=Subquery(last.values("body")[:1]),
                last_sender=Subquery(last.values("sender")[:1]),
            )
            .order_by("-last_at", "to")
        )

    # --- one email -------------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._require_view(request)
        entry = self.get_object(request, object_id)
        if entry is None:
            raise Http404("No such entry.")
        if entry.channel != "email":
            url = self.conversation_url(entry.provider_id, entry.channel, entry.to)
            return HttpResponseRedirect(f"{url}#entry-{entry.pk}")
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        context = self._context(
            request,
            title=entry.subject or "(no subject)",
            entry=entry,
            original=entry,
            srcdoc=EMAIL_CSP + entry.html if entry.html else "",
            to_list=payload.get("to") or [entry.to],
            cc=payload.get("cc") or [],
            bcc=payload.get("bcc") or [],
            message=Message.objects.filter(pk=entry.message_id).only("id", "status").first(),
            message_url=self._message_url(entry.message_id)
            if self._can_open_log(request)
            else None,
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/providers/sandboxoutboxentry/email.html", context)

    def _can_open_log(self, request: HttpRequest) -> bool:
        if not self.admin_site.is_registered(Message):
            return False
        return self.admin_site.get_model_admin(Message).has_view_permission(request)

    def _message_url(self, message_id) -> str:
        return reverse(f"{self.admin_site.name}:messaging_message_change", args=[message_id])

    # --- one conversation ------------------------------------------------------------------
    def _conversation(self, request: HttpRequest, provider_id: int, channel: str):
        self._require_view(request)
        if channel not in SCREEN_CHANNELS:
            raise Http404("Not a phone channel.")
        provider = get_object_or_404(self._providers(request), pk=provider_id)
        to = request.GET.get("to", "")
        entries = list(
            self.get_queryset(request)
            .filter(provider=provider, channel=channel, to=to)
            .order_by("-created_at", "-pk")[:CONVERSATION_LIMIT]
        )
        if not entries:
            raise Http404("No such conversation.")
        return provider, to, entries

    @staticmethod
    def _sender(provider: Provider, entries: list[SandboxOutboxEntry]) -> str:
        """Who the recipient sees the messages from: the latest sender used, else the
        provider's default sender, else its name."""
        used = next((e.sender for e in entries if e.sender), "")
        return used or provider.default_sender or provider.name

    def conversation_view(self, request: HttpRequest, provider_id: int, channel: str):
        provider, to, entries = self._conversation(request, provider_id, channel)
        sender = self._sender(provider, entries)
        replies = list(
            InboundMessage.objects.filter(provider=provider, channel=channel, sender=to).order_by(
                "-received_at", "-pk"
            )[:CONVERSATION_LIMIT]
        )
        statuses = dict(
            Message.objects.filter(pk__in=[e.message_id for e in entries]).values_list(
                "id", "status"
            )
        )
        can_open_log = self._can_open_log(request)
        bubbles = sorted(
            chain(
                (
                    self._outbound_bubble(e, statuses.get(e.message_id), can_open_log)
                    for e in entries
                ),
                ({"kind": "in", "pk": r.pk, "at": r.received_at, "text": r.text} for r in replies),
            ),
            key=lambda b: (b["at"], b["kind"] == "in", b["pk"]),
        )[-CONVERSATION_LIMIT:]
        context = self._context(
            request,
            title=f"{channel_label(channel)} conversation with {to}",
            provider=provider,
            channel=channel,
            channel_label=channel_label(channel),
            to=to,
            sender=sender,
            bubbles=bubbles,
            can_reply=channel in REPLY_CHANNELS,
            reply_url=self.conversation_url(provider.pk, channel, to, reply=True),
            max_reply=MAX_REPLY,
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/providers/sandboxoutboxentry/conversation.html", context
        )

    def _outbound_bubble(self, entry: SandboxOutboxEntry, status: str | None, log: bool) -> dict:
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        info = st.STATUSES.get(status) if status else None
        return {
            "kind": "out",
            "pk": entry.pk,
            "at": entry.created_at,
            "text": entry.body,
            "title": entry.subject,
            "media": _media_label(payload.get("media")),
            "buttons": [b for b in map(_button_label, payload.get("buttons") or []) if b],
            "cards": _cards(payload),
            "status": info,
            "status_label": info.name.replace("_", " ").capitalize() if info else "",
            "status_class": info.group.lower() if info else "",
            "message_url": self._message_url(entry.message_id) if log else None,
        }

    def reply_view(self, request: HttpRequest, provider_id: int, channel: str):
        provider, to, entries = self._conversation(request, provider_id, channel)
        back = self.conversation_url(provider.pk, channel, to)
        if channel not in REPLY_CHANNELS:
            raise Http404("This channel takes no replies.")
        text = request.POST.get("text", "").strip()
        if not text:
            messages.error(request, "Type the reply's text first.")
            return HttpResponseRedirect(back)
        if len(text) > MAX_REPLY:
            messages.error(request, f"A reply has at most {MAX_REPLY} characters.")
            return HttpResponseRedirect(back)
        sender = self._sender(provider, entries)
        body = {
            "from": to,
            "to": sender,
            "text": text,
            "channel": channel,
            "messageId": f"sim-{uuid.uuid4().hex}",
        }
        webhook_request = WebhookRequest(
            method="POST",
            url=provider.inbound_webhook_url,
            headers={"Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        )
        try:
            with transaction.atomic():
                inbound_webhook_receive(token=provider.webhook_token, request=webhook_request)
        except (WebhookRejected, IntegrityError) as exc:
            messages.error(request, f"The sandbox refused the reply: {exc}")
            return HttpResponseRedirect(back)
        messages.success(request, f"Reply from {to} received through the inbound webhook.")
        return HttpResponseRedirect(f"{back}#latest")
