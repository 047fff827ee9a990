"""Our mediaIds in sends: resolved at accept to the signed link, so every adapter gets a URL
it can fetch; an id that is not this tenant's is a 400 naming the field."""

import email
import json
import re
from email import policy
from urllib.parse import urlsplit

import pytest
import responses
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from contacts import services as contact_services
from core import status as st
from messaging.models import Message
from providers.models import SandboxOutboxEntry
from tests.factories import ProviderFactory, TemplateFactory
from tests.helpers import assert_error
from tests.providers.test_meta_whatsapp import BASE, CREDS, OK, SEND_URL
from tests.providers.test_smtp import CREDS as SMTP_CREDS
from tests.providers.test_smtp import FakeSMTP, FakeSMTPSSL
from tests.uploads import samples
from tests.uploads.conftest import upload

PHONE = "+14155550100"


def served(url: str) -> bytes:
    """What a provider gets when it fetches the link (no API key)."""
    response = Client().get(urlsplit(url).path)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)


def media_id(client, content: bytes, name: str) -> str:
    r = upload(client, content, name)
    assert r.status_code == 201, r.content
    return r.json()["mediaId"]


def send(client, run_tasks, body):
    return run_tasks(client.post, "/api/v1/messages", body, format="json")


def test_a_whatsapp_image_by_our_id_reaches_the_sandbox_as_its_link(client, sandbox, run_tasks):
    image = media_id(client, samples.png(), "map.png")
    r = send(
        client, run_tasks,
        {"whatsapp": [{"body": "Here", "to": [PHONE], "media": {"image": {"mediaId": image}}}]},
    )  # fmt: skip
    assert r.status_code == 202, r.content
    [entry] = SandboxOutboxEntry.objects.all()
    sent = entry.payload["media"]["image"]
    assert set(sent) == {"url"}  # no mediaId left for an adapter to misread
    assert sent["url"].endswith("/map.png")
    assert served(sent["url"]) == samples.png()
    assert Message.objects.get().status == st.DELIVERED_TO_HANDSET


@pytest.mark.parametrize("channel", ["viber", "rcs"])
def test_viber_and_rcs_entries_resolve_too(client, sandbox, run_tasks, channel):
    image = media_id(client, samples.JPEG, "photo.jpg")
    r = send(
        client,
        run_tasks,
        {channel: [{"body": "", "to": [PHONE], "media": {"image": {"mediaId": image}}}]},
    )
    assert r.status_code == 202, r.content
    url = SandboxOutboxEntry.objects.get().payload["media"]["image"]["url"]
    assert served(url) == samples.JPEG


def test_a_document_keeps_the_filename_given_and_the_flat_form_gets_its_kind(
    client, sandbox, run_tasks
):
    pdf = media_id(client, samples.pdf(), "receipt.pdf")
    r = send(
        client, run_tasks,
        {"whatsapp": [
            {"body": "Receipt", "to": [PHONE],
             "media": {"document": {"mediaId": pdf, "filename": "Your receipt.pdf"}}},
            {"body": "", "to": [PHONE], "media": {"mediaId": pdf}},  # OS1's flat form
        ]},
    )  # fmt: skip
    assert r.status_code == 202, r.content
    payloads = [e.payload for e in SandboxOutboxEntry.objects.all()]
    # The window sends in any order: tell the two apart by their shape.
    first, second = sorted(payloads, key=lambda p: "document" not in p["media"])
    assert first["media"]["document"]["filename"] == "Your receipt.pdf"
    assert served(first["media"]["document"]["url"]) == samples.pdf()
    assert second["media"]["type"] == "document"
    assert served(second["media"]["url"]) == samples.pdf()


def test_a_template_s_media_by_our_id(client, tenant, sandbox, run_tasks):
    pdf = media_id(client, samples.pdf(), "menu.pdf")
    TemplateFactory(
        tenant=tenant, name="menu", mode="whatsapp",
        data={"body": "Today's menu, {{name}}", "media": {"document": {"mediaId": pdf}}},
    )  # fmt: skip
    r = send(
        client, run_tasks,
        {"whatsapp": [{"template": "menu", "data": {"name": "Ann"},
                       "to": [PHONE, "+14155550101"]}]},
    )  # fmt: skip
    assert r.status_code == 202, r.content
    urls = {e.payload["media"]["document"]["url"] for e in SandboxOutboxEntry.objects.all()}
    assert len(urls) == 1 and served(urls.pop()) == samples.pdf()


@pytest.mark.parametrize(
    ("media", "source", "code"),
    [
        ({"image": {"mediaId": "med_00000000000000000000000000000000"}}, "media.image.mediaId",
         "unknown_media"),
        ({"image": [{"url": "https://e.com/a.png"}, {"mediaId": "med_nope"}]},
         "media.image[1].mediaId", "unknown_media"),
        ({"image": {"mediaId": "PDF"}}, "media.image.mediaId", "media_kind"),
        ({"video": {"mediaId": "PNG"}}, "media.video.mediaId", "media_kind"),
        ({"mediaId": "PDF", "type": "image"}, "media.mediaId", "media_kind"),
    ],
)  # fmt: skip
def test_an_id_that_cannot_be_sent_is_a_400_naming_the_field(client, sandbox, media, source, code):
    ids = {
        "PDF": media_id(client, samples.pdf(), "a.pdf"),
        "PNG": media_id(client, samples.png(), "a.png"),
    }
    media = json.loads(
        json.dumps(media).replace('"PDF"', f'"{ids["PDF"]}"').replace('"PNG"', f'"{ids["PNG"]}"')
    )
    r = client.post(
        "/api/v1/messages",
        {"whatsapp": [{"body": "", "to": [PHONE], "media": media}]},
        format="json",
    )
    assert_error(r, 400, source=f"whatsapp[0].{source}", code=code)
    assert not Message.objects.exists()


def test_another_tenants_id_is_unknown_here(client, other_client, sandbox):
    theirs = media_id(other_client, samples.png(), "theirs.png")
    r = client.post(
        "/api/v1/messages",
        {"whatsapp": [{"body": "x", "to": [PHONE], "media": {"image": {"mediaId": theirs}}}]},
        format="json",
    )
    (err,) = assert_error(r, 400, source="whatsapp[0].media.image.mediaId", code="unknown_media")
    assert theirs in err["detail"]


def test_an_image_may_go_as_a_document(client, sandbox, run_tasks):
    png = media_id(client, samples.png(), "scan.png")
    r = send(
        client, run_tasks,
        {"whatsapp": [{"body": "", "to": [PHONE], "media": {"document": {"mediaId": png}}}]},
    )  # fmt: skip
    assert r.status_code == 202, r.content


def test_a_provider_s_own_id_passes_untouched(client, sandbox, run_tasks):
    r = send(
        client, run_tasks,
        {"whatsapp": [{"body": "", "to": [PHONE], "media": {"image": {"mediaId": "1234567890"}}}]},
    )  # fmt: skip
    assert r.status_code == 202, r.content
    assert SandboxOutboxEntry.objects.get().payload["media"] == {"image": {"mediaId": "1234567890"}}


def test_ids_are_looked_up_once_per_request_and_never_without_ids(client, sandbox):
    png = media_id(client, samples.png(), "a.png")
    entry = {"body": "", "to": [PHONE, "+14155550101"], "media": {"image": {"mediaId": png}}}

    def media_queries(body):
        with CaptureQueriesContext(connection) as ctx:
            r = client.post("/api/v1/messages", body, format="json")
        assert r.status_code == 202, r.content
        return [q["sql"] for q in ctx.captured_queries if "uploads_media" in q["sql"]]

    assert len(media_queries({"whatsapp": [entry] * 20})) == 1
    assert media_queries({"whatsapp": [{"body": "x", "to": [PHONE]}] * 20}) == []


def test_a_provider_gets_the_link_in_its_own_request(client, tenant, run_tasks, monkeypatch):
    """Meta's Cloud API fetches the media itself: its request carries our link."""
    monkeypatch.setattr(contact_services, "open_windows", lambda *, tenant, keys, **kw: set(keys))
    ProviderFactory(
        tenant=tenant, name="meta", provider_type="meta_whatsapp", channels=["whatsapp"],
        credentials=CREDS, is_tenant_default=True,
    )  # fmt: skip
    pdf = media_id(client, samples.pdf(), "receipt.pdf")
    with responses.RequestsMock() as rsps:
        rsps.post(SEND_URL, json=OK)
        r = send(
            client, run_tasks,
            {"whatsapp": [{"body": "Your receipt", "to": ["+16505551234"],
                           "media": {"document": {"mediaId": pdf}}}]},
        )  # fmt: skip
        assert r.status_code == 202, r.content
        sent = json.loads(rsps.calls[-1].request.body)
    link = sent["document"]["link"]
    assert sent == {
        **BASE,
        "biz_opaque_callback_data": r.json()["messages"][0]["messageId"],
        "type": "document",
        "document": {"link": link, "caption": "Your receipt", "filename": "receipt.pdf"},
    }
    assert served(link) == samples.pdf()


def test_an_email_attachment_by_our_id_leaves_with_the_file(client, tenant, run_tasks, monkeypatch):
    """The SMTP adapter fetches the link through the guarded client; the email that leaves
    carries the uploaded bytes, named and typed as uploaded."""
    FakeSMTP.sessions, FakeSMTP.refuse = [], None
    monkeypatch.setattr("providers.backends.smtp.GuardedSMTP", FakeSMTP)
    monkeypatch.setattr("providers.backends.smtp.GuardedSMTP_SSL", FakeSMTPSSL)
    ProviderFactory(
        tenant=tenant, name="relay", provider_type="smtp", channels=["email"],
        credentials=SMTP_CREDS, is_tenant_default=True,
    )  # fmt: skip
    docx = media_id(client, samples.docx(), "Terms.docx")
    TemplateFactory(
        tenant=tenant, name="terms", mode="email",
        data={"subject": "Our terms", "body": "Attached.", "from": "shop@example.com",
              "media": {"document": {"mediaId": docx}}},
    )  # fmt: skip

    def from_the_app(request):
        response = Client().get(urlsplit(request.url).path)
        return (
            response.status_code,
            {"Content-Type": response["Content-Type"]},
            b"".join(response.streaming_content),
        )

    with responses.RequestsMock() as rsps:
        rsps.add_callback("GET", re.compile(r"http://127\.0\.0\.1:8000/media/.+"), from_the_app)
        r = send(client, run_tasks, {"email": [{"template": "terms", "to": ["ann@example.com"]}]})
        assert r.status_code == 202, r.content
        assert len(rsps.calls) == 1
    assert Message.objects.get().status == st.DELIVERED_TO_OPERATOR
    [(_, rcpts, raw)] = FakeSMTP.sessions[0].sent
    mime = email.message_from_bytes(raw, policy=policy.default)
    [attachment] = mime.iter_attachments()
    assert attachment.get_filename() == "Terms.docx"
    assert attachment.get_content_type() == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert attachment.get_content() == samples.docx()
