"""The one content model: OS1 media, location, buttons and providerTemplate read once, and
what a provider cannot carry refused at accept with the field named."""

import pytest

from messaging.models import Message
from providers.backends.content import (
    Capabilities,
    ContentInvalid,
    Location,
    Media,
    content_parse,
)
from tests.factories import ProviderFactory
from tests.helpers import assert_error


def test_os1_media_and_buttons():
    c = content_parse(
        {
            "media": {
                "document": {"url": "https://example.com/doc.pdf", "filename": "receipt.pdf"},
                "image": {"url": "https://example.com/image.jpg"},
                "location": {"latitude": 37.7749, "longitude": -122.4194, "name": "HQ"},
            },
            "buttons": ["Track order", {"quick reply": {"value": "Confirm"}},
                        {"url": {"trackurl": "https://example.com/t/1", "title": "Track"}}],
        }
    )  # fmt: skip
    assert c.media == (
        Media("document", url="https://example.com/doc.pdf", filename="receipt.pdf"),
        Media("image", url="https://example.com/image.jpg"),
    )
    assert c.location == Location(37.7749, -122.4194, name="HQ")
    assert [(b.kind, b.text) for b in c.quick_replies] == [
        ("quick_reply", "Track order"),
        ("quick_reply", "Confirm"),
    ]
    (url,) = c.url_buttons
    assert (url.url, url.text, url.track) == ("https://example.com/t/1", "Track", True)


def test_flat_media_and_lists_of_one_kind():
    assert content_parse({"media": {"url": "https://x.example/a.png"}}).media == (
        Media("image", url="https://x.example/a.png"),
    )
    flat_doc = content_parse({"media": {"url": "https://x.example/a", "type": "document"}})
    assert flat_doc.media[0].kind == "document"
    many = content_parse({"media": {"image": [{"url": "https://x.example/1.jpg"},
                                               {"mediaId": "m-2"}]}})  # fmt: skip
    assert [(m.url, m.media_id) for m in many.media] == [
        ("https://x.example/1.jpg", ""),
        ("", "m-2"),
    ]


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"media": {"image": {}}}, "media.image"),
        ({"media": {"image": {"url": "ftp://x/a.jpg"}}}, "media.image.url"),
        ({"media": {"gif": {"url": "https://x/a.gif"}}}, "media.gif"),
        ({"media": {"location": {"latitude": 91, "longitude": 0}}}, "media.location.latitude"),
        ({"media": {"document": {"url": "https://x/a", "size": 3}}}, "media.document.size"),
        ({"buttons": [{"url": {"value": "not a url"}}]}, "buttons[0].url.value"),
        ({"buttons": [{"call": {"value": "+1"}}]}, "buttons[0].call"),
        ({"buttons": "Yes"}, "buttons"),
        ({"providerTemplate": {"params": ["1"]}}, "providerTemplate"),
        ({"providerTemplate": {"name": "t", "params": [{"a": 1}]}}, "providerTemplate.params"),
        ({"providerTemplate": {"name": "t"}, "buttons": ["Yes"]}, "buttons"),
    ],
)
def test_what_does_not_parse_names_its_field(payload, path):
    with pytest.raises(ContentInvalid) as exc:
        content_parse(payload)
    assert path in [p for p, _ in exc.value.problems]


def test_provider_template_params_only_when_given_or_asked():
    assert content_parse({"providerTemplate": {"name": "hello"}}).template.params == ()
    given = content_parse({"providerTemplate": {"name": "otp", "language": "de", "params": [123]}})
    assert (given.template.name, given.template.language, given.template.params) == (
        "otp", "de", ("123",),
    )  # fmt: skip
    lines = content_parse(
        {"providerTemplate": {"name": "t", "params": "bodyLines"}}, "Ann\n\nA-1\n"
    )
    assert lines.template.params == ("Ann", "A-1")


def test_provider_template_header_and_buttons():
    t = content_parse(
        {
            "providerTemplate": {
                "name": "order",
                "header": {"document": {"url": "https://x/r.pdf", "filename": "r.pdf"}},
                "buttons": [
                    {"type": "url", "value": "o-1"},
                    {"type": "quick_reply", "value": "ok", "index": 2},
                ],
            }
        }
    ).template
    assert t.header_media == Media("document", url="https://x/r.pdf", filename="r.pdf")
    assert [(b.kind, b.value, b.index) for b in t.buttons] == [
        ("url", "o-1", 0),
        ("quick_reply", "ok", 2),
    ]
    # The entry's one media item is the template's header.
    moved = content_parse(
        {"providerTemplate": {"name": "t"}, "media": {"image": {"url": "https://x/a.jpg"}}}
    )
    assert moved.media == () and moved.template.header_media.kind == "image"
    with pytest.raises(ContentInvalid):
        content_parse({"providerTemplate": {"name": "t", "header": {"text": "Hi"}},
                       "media": {"image": {"url": "https://x/a.jpg"}}})  # fmt: skip


def test_capabilities_name_what_cannot_be_carried():
    caps = Capabilities(media_kinds=frozenset({"image"}), max_media=1, quick_replies=3)
    c = content_parse(
        {
            "media": {
                "image": [{"url": "https://x/1.jpg"}, {"url": "https://x/2.jpg"}],
                "location": {"latitude": 1, "longitude": 2},
            },
            "buttons": ["a", "b", "c", "d", {"url": {"value": "https://x"}}],
        }
    )
    problems = caps.problems(c, "P")
    assert ("media", "P carries at most 1 media item(s) per message.") in problems
    assert ("media.location", "P cannot send a location.") in problems
    assert ("buttons", "P takes at most 3 quick-reply buttons.") in problems
    assert ("buttons", "P takes no URL buttons.") in problems
    assert Capabilities().problems(content_parse({}), "P") == []


# --- at accept ------------------------------------------------------------------------------


def test_content_a_provider_cannot_carry_is_a_400_naming_the_field(client, tenant):
    from core.status import PENDING_ACCEPTED  # noqa: F401  (the message is never stored)

    ProviderFactory(tenant=tenant, name="plain", provider_type="sandbox", channels=["sms"])
    body = {"sms": [{"body": "hi", "provider": "plain", "to": ["+14155550100"],
                     "media": {"image": {"url": "https://example.com/a.jpg"}}}]}  # fmt: skip
    r = client.post("/api/v1/messages", body, format="json")
    assert_error(r, 400, source="sms[0].media.image", code="unsupported_content")
    assert not Message.objects.exists()


def test_content_that_does_not_parse_is_a_400_naming_the_field(client, sandbox):
    body = {
        "whatsapp": [
            {
                "body": "hi",
                "to": ["+14155550100"],
                "media": {"location": {"latitude": "north", "longitude": 2}},
            }
        ]
    }
    r = client.post("/api/v1/messages", body, format="json")
    assert_error(r, 400, source="whatsapp[0].media.location.latitude", code="invalid_content")
    assert not Message.objects.exists()


def test_whatsapp_external_ref_names_a_template_with_the_placeholders_values(
    client, sandbox, tenant, run_tasks
):
    from tests.factories import TemplateFactory

    TemplateFactory(tenant=tenant, name="delivered", mode="whatsapp",
                    data={"body": "Dear {{name}}, order {{orderId}} is here ({{company}})",
                          "externalRef": "order_delivered:en_US"})  # fmt: skip
    body = {"whatsapp": [{"template": "delivered", "to": ["+14155550100"],
                          "data": {"name": "Ann", "orderId": "A-1"}}]}  # fmt: skip
    r = run_tasks(client.post, "/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    m = Message.objects.get()
    assert m.content["providerTemplate"] == {
        "name": "order_delivered", "language": "en_US", "params": ["Ann", "A-1", "Acme"],
    }  # fmt: skip


def test_a_chat_entry_may_be_media_alone(client, sandbox, run_tasks):
    audio = {"audio": {"url": "https://example.com/note.ogg"}}
    body = {"whatsapp": [{"body": "", "to": ["+14155550100"], "media": audio}]}
    r = run_tasks(client.post, "/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    assert Message.objects.get().content["media"] == {
        "audio": {"url": "https://example.com/note.ogg"}
    }
    sms = {"sms": [{"body": "", "to": ["+14155550100"]}]}
    assert_error(client.post("/api/v1/messages", sms, format="json"), 400, source="sms[0].template")


def test_text_with_media_a_provider_sends_uncaptioned_is_refused_not_dropped():
    from providers.backends.meta_whatsapp import MetaWhatsAppBackend

    audio = {"media": {"audio": {"url": "https://example.com/note.ogg"}}}
    with_text = content_parse(audio, "Listen to this")
    assert ("body", "Meta WhatsApp Cloud API (whatsapp) sends audio without text: give an empty "
            "body, and the text as an entry of its own.") in [
        (p, t.replace(MetaWhatsAppBackend.label, "Meta WhatsApp Cloud API"))
        for p, t in MetaWhatsAppBackend.content_problems("whatsapp", with_text)
    ]  # fmt: skip
    assert MetaWhatsAppBackend.content_problems("whatsapp", content_parse(audio, "")) == []
    image = content_parse({"media": {"image": {"url": "https://example.com/a.jpg"}}}, "Caption")
    assert MetaWhatsAppBackend.content_problems("whatsapp", image) == []


def test_an_email_templates_attachments_are_checked_at_accept(client, sandbox, tenant):
    from tests.factories import TemplateFactory

    TemplateFactory(tenant=tenant, name="receipt", mode="email",
                    data={"subject": "Receipt", "body": "Attached.",
                          "media": {"location": {"latitude": 1, "longitude": 2}}})  # fmt: skip
    body = {"email": [{"template": "receipt", "to": ["ann@example.com"]}]}
    r = client.post("/api/v1/messages", body, format="json")
    assert_error(r, 400, source="email[0].media.location", code="unsupported_content")
