"""Internal records are the service's memory: nobody adds, edits or deletes them in the
admin (superusers included), everyone who may look can filter, search and export them, and
an export holds only the user's tenants' rows."""

import csv
import io

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from messaging.models import (
    CallbackAttempt,
    CallbackDelivery,
    EarlyReport,
    IdempotencyRecord,
    Message,
    MessageAttempt,
    MessageEvent,
    MessageRequest,
)
from providers.models import InboundMessage, SandboxOutboxEntry

INTERNAL = [
    Message,
    MessageEvent,
    MessageAttempt,
    MessageRequest,
    CallbackDelivery,
    CallbackAttempt,
    IdempotencyRecord,
    EarlyReport,
    InboundMessage,
    SandboxOutboxEntry,
]


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _rows(t):
    """One row of every internal table for tenant `t` (from conftest's _tenant_with_rows)."""
    message = t["message"]
    now = timezone.now()
    event = MessageEvent.objects.create(
        message=message, status="PENDING_ACCEPTED", source="api", created_at=now
    )
    attempt = MessageAttempt.objects.create(
        message=message, number=1, started_at=now, outcome="sent"
    )
    delivery = CallbackDelivery.objects.create(
        app_id=message.app_id,
        message=message,
        url="https://hooks.example.com/x",
        payload={},
        next_attempt_at=now,
    )
    tried = CallbackAttempt.objects.create(delivery=delivery, number=1, response_status=200)
    record = IdempotencyRecord.objects.create(
        app=t["app"], key=f"{t['tenant'].slug}-key", request_hash="0" * 64,
        response_status=201, response_body={},
    )  # fmt: skip
    early = EarlyReport.objects.create(
        provider=t["provider"], provider_message_id=f"{t['tenant'].slug}-ref", report={}
    )
    inbound = InboundMessage.objects.create(
        tenant=t["tenant"], provider=t["provider"], channel="sms", sender="+14155550123",
        recipient="ACME",
        text="hi", provider_message_id=f"{t['tenant'].slug}-in", received_at=now,
    )  # fmt: skip
    return {
        MessageEvent: event,
        MessageAttempt: attempt,
        CallbackDelivery: delivery,
        CallbackAttempt: tried,
        IdempotencyRecord: record,
        EarlyReport: early,
        InboundMessage: inbound,
        Message: message,
        MessageRequest: message.request,
    }


@pytest.mark.parametrize("model", INTERNAL, ids=lambda m: m.__name__)
def test_a_superuser_cannot_add_change_or_delete_an_internal_record(login, admin_user, model):
    c = login(admin_user)
    model_admin = admin.site.get_model_admin(model)
    request = type("R", (), {"user": admin_user})()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert c.get(_url(model, "add")).status_code == 403
    page = c.get(_url(model, "changelist"))
    assert page.status_code == 200
    assert _url(model, "add") not in page.content.decode()  # no "Add" button


def test_a_superuser_cannot_forge_a_status_event(login, admin_user, alpha):
    c = login(admin_user)
    message = alpha["message"]
    r = c.post(
        _url(MessageEvent, "add"),
        {"message": message.pk, "status": "DELIVERED_TO_HANDSET", "source": "provider",
         "created_at_0": "2026-01-01", "created_at_1": "00:00:00"},
    )  # fmt: skip
    assert r.status_code == 403
    assert not MessageEvent.objects.filter(status="DELIVERED_TO_HANDSET").exists()
    event = _rows(alpha)[MessageEvent]
    r = c.post(_url(MessageEvent, "change", event.pk), {"status": "DELIVERED_TO_HANDSET"})
    assert r.status_code == 403
    r = c.post(_url(MessageEvent, "delete", event.pk), {"post": "yes"})
    assert r.status_code == 403
    event.refresh_from_db()
    assert event.status == "PENDING_ACCEPTED"
    # The event's page is there to read.
    page = c.get(_url(MessageEvent, "change", event.pk)).content.decode()
    assert "PENDING_ACCEPTED" in page and 'name="_save"' not in page


def test_add_message_is_no_empty_page(login, admin_user, alpha):
    c = login(admin_user)
    assert c.get(_url(Message, "add")).status_code == 403
    page = c.get(_url(Message, "changelist")).content.decode()
    assert _url(Message, "add") not in page


def test_internal_logs_have_filters_and_search(login, admin_user, alpha):
    rows = _rows(alpha)
    c = login(admin_user)
    message = alpha["message"]
    for model in (MessageEvent, MessageAttempt, CallbackDelivery, CallbackAttempt):
        page = c.get(_url(model, "changelist"), {"q": str(message.pk)}).content.decode()
        assert 'id="changelist-filter"' in page, model
        assert _url(model, "change", rows[model].pk) in page, model
        # Not a uuid: nothing found, not an error.
        r = c.get(_url(model, "changelist"), {"q": "not-a-uuid"})
        assert r.status_code == 200
        assert _url(model, "change", rows[model].pk) not in r.content.decode()
    page = c.get(_url(MessageEvent, "changelist"), {"source": "dispatch"}).content.decode()
    assert _url(MessageEvent, "change", rows[MessageEvent].pk) not in page
    page = c.get(_url(IdempotencyRecord, "changelist"), {"q": "alpha-key"}).content.decode()
    assert _url(IdempotencyRecord, "change", rows[IdempotencyRecord].pk) in page
    page = c.get(_url(MessageRequest, "changelist"), {"q": str(message.request_id)}).content
    assert _url(MessageRequest, "change", message.request_id) in page.decode()


def _export(c, model, pks, **extra):
    r = c.post(
        _url(model, "changelist"),
        {"action": "export_csv", "_selected_action": [str(pk) for pk in pks], **extra},
    )
    assert r.status_code == 200, r.content[:500]
    assert r["Content-Type"].startswith("text/csv")
    assert r.streaming
    return list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))


def test_export_csv_holds_the_selected_rows_of_the_users_tenants_only(
    login, alpha_support, alpha, beta
):
    mine, theirs = alpha["message"], beta["message"]
    c = login(alpha_support)
    # Support staff export what they may look at; another tenant's id in the POST is ignored.
    rows = _export(c, Message, [mine.pk, theirs.pk])
    assert [r["id"] for r in rows] == [str(mine.pk)]
    assert rows[0]["to"] == "+14155550100"  # a phone number stays a number
    assert "claim_token" not in rows[0]
    # "Select all" across pages: still this tenant only.
    rows = _export(c, Message, [mine.pk], select_across="1")
    assert [r["id"] for r in rows] == [str(mine.pk)]


def test_export_csv_defuses_formulas(login, alpha_admin, alpha):
    inbound = _rows(alpha)[InboundMessage]
    inbound.text = '=HYPERLINK("http://evil.example","x")'
    inbound.save()
    c = login(alpha_admin)
    (row,) = _export(c, InboundMessage, [inbound.pk])
    assert row["text"].startswith("'=")
    assert row["sender"] == "+14155550123"


def test_export_is_offered_on_every_internal_changelist(login, admin_user, alpha):
    _rows(alpha)
    c = login(admin_user)
    for model in INTERNAL:
        if model is SandboxOutboxEntry:  # phones and a mailbox, not a table
            continue
        page = c.get(_url(model, "changelist")).content.decode()
        assert 'value="export_csv"' in page, model
