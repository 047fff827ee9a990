"""Viber (text, image, button, video) and RCS (text, media, standalone card, carousel,
suggestions, the capability check): the exact requests Messente and websms receive, what the
send API refuses (400 naming the field, nothing stored), templates and previews with rich
content, and the sandbox's outbox."""

import json

import pytest
import responses
from django.core.cache import cache
from django.urls import reverse
from django.utils.http import urlencode

from core import status as st
from messaging.models import Message
from providers.backends import OutboundMessage, SendError
from providers.backends.content import content_parse
from providers.backends.messente import MessenteBackend
from providers.backends.sandbox import SandboxBackend
from providers.backends.websms import WebsmsBackend
from providers.models import SandboxOutboxEntry
from tests.factories import ProviderFactory, staff_user
from tests.helpers import assert_error

URL = "/api/v1/messages"
MESSENTE = "https://api.messente.com/v1/omnimessage"
MESSENTE_CREDS = {"username": "api_user", "password": "api_password"}
WEBSMS = "https://api.websms.com"
TOKEN_URL = "https://auth.websms.com/oauth/token"
APP = "97ab27fa-30e2-43e3-92a3-160e80f4c0d5"
WEBSMS_CREDS = {"clientId": "client-1", "clientSecret": "secret-1", "applicationId": APP}
RCS_SEND = f"{WEBSMS}/messaging/rcs/{APP}/messages"
RCS_CAPS = f"{WEBSMS}/messaging/rcs/{APP}/contactCapabilities"
MID = "6f1c1d3e-0000-4000-8000-000000000001"
VIDEO = {
    "url": "https://ex.com/v.mp4",
    "thumbnail": "https://ex.com/v.jpg",
    "size": 12_000_000,
    "duration": 42,
}
WIRE_VIDEO = {
    "url": "https://ex.com/v.mp4",
    "thumbnail": "https://ex.com/v.jpg",
    "file_size": 12_000_000,
    "duration": 42,
}


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def messente(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="messente",
        provider_type="messente",
        channels=["sms", "viber", "whatsapp"],
        credentials=MESSENTE_CREDS,
    )


@pytest.fixture
def websms(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="websms",
        provider_type="websms",
        channels=["sms", "whatsapp", "rcs"],
        credentials=WEBSMS_CREDS,
    )


def outbound(channel, body="Hello", **payload):
    return OutboundMessage(
        id=MID, channel=channel, to="+43 653 1234567", body=body, sender="Acme", payload=payload
    )


def messente_entry(call) -> dict:
    (entry,) = json.loads(call.request.body)["messages"]
    return entry


def messente_created():
    return {
        "messages": [{"channel": "viber", "message_id": "m1", "sender": "Acme"}],
        "to": "+436531234567",
        "omnimessage_id": "om-1",
    }


def websms_ready(rsps, capabilities=("chat",)):
    rsps.post(TOKEN_URL, json={"access_token": "tok-1", "token_type": "bearer", "expires_in": 300})
    rsps.get(RCS_CAPS, json={"capabilities": list(capabilities)})
    rsps.post(RCS_SEND, json={"RCSMessage": {"msgId": MID, "status": "pending"}})


def rcs_sent(rsps) -> dict:
    (call,) = [c for c in rsps.calls if c.request.url == RCS_SEND]
    assert call.request.headers["Authorization"] == "Bearer tok-1"
    return json.loads(call.request.body)


def post(client, body):
    return client.post(URL, body, format="json")


# --- Viber through Messente: the exact channel entry ------------------------------------------


@pytest.mark.parametrize(
    ("body", "payload", "wire"),
    [
        # Messente's combinations (messente-api-python Viber, ViberVideo)
        ("", {"media": {"image": {"url": "https://ex.com/a.jpg"}}},
         {"image_url": "https://ex.com/a.jpg"}),
        ("Hello", {"media": {"image": {"url": "https://ex.com/a.jpg"}},
                   "buttons": [{"url": {"value": "https://ex.com/t", "title": "Track"}}]},
         {"text": "Hello", "image_url": "https://ex.com/a.jpg", "button_url": "https://ex.com/t",
          "button_text": "Track"}),
        ("", {"media": {"video": VIDEO}}, {"video": WIRE_VIDEO}),
        ("Watch", {"media": {"video": VIDEO}}, {"text": "Watch", "video": WIRE_VIDEO}),
        ("Watch", {"media": {"video": VIDEO}, "buttons": ["Play"]},
         {"text": "Watch", "video": WIRE_VIDEO, "button_text": "Play"}),
        ("Watch", {"media": {"video": VIDEO},
                   "buttons": [{"url": {"value": "https://ex.com/more", "title": "More"}}]},
         {"text": "Watch", "video": WIRE_VIDEO, "button_text": "More",
          "button_url": "https://ex.com/more"}),
    ],
)  # fmt: skip
@responses.activate
def test_messente_viber_entry_is_exactly_what_messente_takes(body, payload, wire):
    message = outbound("viber", body, **payload)
    assert MessenteBackend.content_problems("viber", message.content) == []
    responses.post(MESSENTE, status=201, json=messente_created())
    MessenteBackend(MESSENTE_CREDS).send(message)
    assert messente_entry(responses.calls[0]) == {"channel": "viber", "sender": "Acme", **wire}


@responses.activate
def test_a_viber_video_through_the_api_reaches_messente(client, messente, run_tasks):
    responses.post(MESSENTE, status=201, json=messente_created())
    entry = {"body": "Our new ad", "provider": "messente", "to": ["+436531234567"],
             "from": "Acme", "media": {"video": VIDEO}, "buttons": ["Play"]}  # fmt: skip
    r = run_tasks(post, client, {"viber": [entry]})
    assert r.status_code == 202, r.content
    assert messente_entry(responses.calls[0]) == {
        "channel": "viber",
        "sender": "Acme",
        "text": "Our new ad",
        "video": WIRE_VIDEO,
        "button_text": "Play",
        "ttl": messente_entry(responses.calls[0])["ttl"],
    }
    assert Message.objects.get().status == st.PENDING_ENROUTE


@pytest.mark.parametrize(
    ("entry", "source", "code"),
    [
        ({"media": {"video": {**VIDEO, "size": 200_000_001}}}, "media.video.size",
         "unsupported_content"),
        ({"media": {"video": {**VIDEO, "duration": 601}}}, "media.video.duration",
         "unsupported_content"),
        ({"media": {"video": {k: v for k, v in VIDEO.items() if k != "thumbnail"}}},
         "media.video.thumbnail", "unsupported_content"),
        ({"media": {"video": {k: v for k, v in VIDEO.items() if k != "size"}}},
         "media.video.size", "unsupported_content"),
        ({"media": {"video": {**VIDEO, "size": "big"}}}, "media.video.size", "invalid_content"),
        ({"media": {"video": {**VIDEO, "duration": 0}}}, "media.video.duration",
         "invalid_content"),
        ({"media": {"video": {**VIDEO, "thumbnail": "ftp://x/t.jpg"}}},
         "media.video.thumbnail", "invalid_content"),
        ({"media": {"image": {"url": "https://ex.com/a.jpg", "duration": 3}}},
         "media.image.duration", "invalid_content"),
        # an image with text needs a URL button (Viber.image_url combinations)
        ({"media": {"image": {"url": "https://ex.com/a.jpg"}}}, "media.image",
         "unsupported_content"),
        ({"buttons": ["Yes"]}, "buttons", "unsupported_content"),  # text-only: with video only
        ({"buttons": [{"url": {"value": "https://ex.com/t"}}]}, "buttons[0]",
         "unsupported_content"),  # a URL button needs its text
        ({"buttons": [{"url": {"value": "https://ex.com/a", "title": "A"}},
                      {"url": {"value": "https://ex.com/b", "title": "B"}}]}, "buttons",
         "unsupported_content"),
        ({"media": {"image": {"url": "https://ex.com/a.jpg"}, "video": VIDEO}}, "media",
         "unsupported_content"),
        ({"card": {"title": "T"}}, "card", "unsupported_content"),
    ],
)  # fmt: skip
def test_what_viber_through_messente_refuses_is_a_400_naming_it(
    client, messente, entry, source, code
):
    r = post(client, {"viber": [{"body": "Hello", "provider": "messente",
                                 "to": ["+436531234567"], **entry}]})  # fmt: skip
    assert_error(r, 400, source=f"viber[0].{source}", code=code)
    assert not Message.objects.exists()


def test_a_viber_button_without_text_is_refused(client, messente):
    entry = {"body": "", "provider": "messente", "to": ["+436531234567"],
             "media": {"image": {"url": "https://ex.com/a.jpg"}},
             "buttons": [{"url": {"value": "https://ex.com/t", "title": "Track"}}]}  # fmt: skip
    assert_error(post(client, {"viber": [entry]}), 400, source="viber[0].buttons")
    assert not Message.objects.exists()


def test_the_sandbox_holds_viber_to_the_same_video_limits(client, sandbox):
    entry = {"body": "Ad", "to": ["+14155550100"], "media": {"video": {**VIDEO, "duration": 900}}}
    assert_error(post(client, {"viber": [entry]}), 400, source="viber[0].media.video.duration")


# --- RCS through websms: the exact RCSMessage --------------------------------------------------


CARD = {
    "title": "Your order",
    "description": "Arrives Tuesday",
    "media": {"image": {"url": "https://ex.com/box.png"}},
    "buttons": [
        "Reschedule",
        {"url": {"value": "https://ex.com/track", "title": "Track"}},
    ],
}
WIRE_SUGGESTIONS = [
    {"reply": {"displayText": "Reschedule", "postback": {"data": "Reschedule"}}},
    {
        "action": {
            "displayText": "Track",
            "postback": {"data": "https://ex.com/track"},
            "urlAction": {"openUrl": {"url": "https://ex.com/track"}},
        }
    },
]
WIRE_CARD = {
    "media": {
        "mediaUrl": "https://ex.com/box.png",
        "height": "MEDIUM_HEIGHT",
        "mediaContentType": "image/png",
    },
    "title": "Your order",
    "description": "Arrives Tuesday",
    "suggestions": WIRE_SUGGESTIONS,
}


@pytest.mark.parametrize(
    ("body", "payload", "wire"),
    [
        ("Ready?", {"buttons": CARD["buttons"]},
         {"textMessage": "Ready?", "suggestedChipList": {"suggestions": WIRE_SUGGESTIONS}}),
        ("", {"media": {"video": VIDEO}},
         {"fileMessage": {"fileUrl": "https://ex.com/v.mp4", "fileMIMEType": "video/mp4",
                          "fileSize": 12_000_000, "thumbnailUrl": "https://ex.com/v.jpg"}}),
        ("", {"media": {"document": {"url": "https://ex.com/r.pdf", "filename": "r.pdf"}}},
         {"fileMessage": {"fileUrl": "https://ex.com/r.pdf", "fileMIMEType": "application/pdf",
                          "fileName": "r.pdf"}}),
        ("", {"card": CARD},
         {"richcardMessage": {"message": {"generalPurposeCard": {
             "layout": {"cardOrientation": "VERTICAL"}, "content": WIRE_CARD}}}}),
        ("", {"card": {**CARD, "orientation": "horizontal", "imageAlignment": "right",
                       "height": "tall"}, "buttons": ["Help"]},
         {"richcardMessage": {"message": {"generalPurposeCard": {
             "layout": {"cardOrientation": "HORIZONTAL", "imageAlignment": "RIGHT"},
             "content": {**WIRE_CARD, "media": {**WIRE_CARD["media"], "height": "TALL_HEIGHT"}},
         }}},
          "suggestedChipList": {"suggestions": [
              {"reply": {"displayText": "Help", "postback": {"data": "Help"}}}]}}),
        ("", {"carousel": {"width": "small", "cards": [CARD, {"title": "Two"}]}},
         {"richcardMessage": {"message": {"generalPurposeCardCarousel": {
             "layout": {"cardWidth": "SMALL_WIDTH"},
             "content": [WIRE_CARD, {"title": "Two"}]}}}}),
    ],
)  # fmt: skip
@responses.activate
def test_websms_rcs_message_is_the_maap_rcsmessage(body, payload, wire):
    message = outbound("rcs", body, **payload)
    assert WebsmsBackend.content_problems("rcs", message.content) == []
    websms_ready(responses)
    result = WebsmsBackend(WEBSMS_CREDS, provider_id=7).send(message)
    assert rcs_sent(responses) == {
        "RCSMessage": {"msgId": MID, **wire},
        "messageContact": {"userContact": "+436531234567"},
    }
    assert result.provider_message_id == MID


@responses.activate
def test_an_rcs_carousel_through_the_api_reaches_websms(client, websms, run_tasks):
    websms_ready(responses)
    entry = {"body": "", "provider": "websms", "to": ["+436531234567"],
             "carousel": {"cards": [CARD, {**CARD, "title": "Second"}]}}  # fmt: skip
    r = run_tasks(post, client, {"rcs": [entry]})
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    carousel = rcs_sent(responses)["RCSMessage"]["richcardMessage"]["message"]
    assert carousel == {
        "generalPurposeCardCarousel": {
            "layout": {"cardWidth": "MEDIUM_WIDTH"},
            "content": [WIRE_CARD, {**WIRE_CARD, "title": "Second"}],
        }
    }
    assert Message.objects.get(pk=mid).status == st.PENDING_ENROUTE


TOO_MANY = [f"Reply {n}" for n in range(12)]


@pytest.mark.parametrize(
    ("entry", "source", "code"),
    [
        ({"carousel": {"cards": [CARD]}}, "carousel.cards", "unsupported_content"),
        ({"carousel": {"cards": [CARD] * 11}}, "carousel.cards", "unsupported_content"),
        ({"carousel": {"cards": []}}, "carousel", "invalid_content"),
        ({"carousel": {"cards": [CARD, CARD], "width": "huge"}}, "carousel.width",
         "invalid_content"),
        ({"carousel": {"cards": [CARD, {**CARD, "title": "x" * 201}]}},
         "carousel.cards[1].title", "unsupported_content"),
        ({"card": {**CARD, "description": "x" * 2001}}, "card.description",
         "unsupported_content"),
        ({"card": {**CARD, "buttons": TOO_MANY[:5]}}, "card.buttons", "unsupported_content"),
        ({"card": {**CARD, "buttons": ["x" * 26]}}, "card.buttons[0]", "unsupported_content"),
        ({"card": {"buttons": ["Yes"]}}, "card", "invalid_content"),  # nothing to show
        ({"card": {**CARD, "media": {"document": {"url": "https://ex.com/r.pdf"}}}},
         "card.media.document", "invalid_content"),
        ({"card": {**CARD, "subtitle": "x"}}, "card.subtitle", "invalid_content"),
        ({"card": {**CARD, "orientation": "diagonal"}}, "card.orientation", "invalid_content"),
        ({"card": {**CARD, "imageAlignment": "left"}}, "card.imageAlignment",
         "invalid_content"),  # for a horizontal card only
        ({"card": CARD, "carousel": {"cards": [CARD, CARD]}}, "carousel", "invalid_content"),
        ({"card": CARD, "media": {"image": {"url": "https://ex.com/a.png"}}}, "media",
         "invalid_content"),
        ({"card": {**CARD, "media": {"image": {"mediaId": "W-1"}}}}, "card.media.image.mediaId",
         "unsupported_content"),  # websms's RCS takes media by URL
        ({"body": "Pick", "buttons": TOO_MANY}, "buttons", "unsupported_content"),
        ({"body": "Pick", "buttons": [{"url": {"value": "https://ex.com/t"}}]}, "buttons[0]",
         "unsupported_content"),  # a suggestion needs its display text
        ({"media": {"location": {"latitude": 48.2, "longitude": 16.3}}}, "media.location",
         "unsupported_content"),
    ],
)  # fmt: skip
def test_what_rcs_through_websms_refuses_is_a_400_naming_it(client, websms, entry, source, code):
    r = post(client, {"rcs": [{"body": "", "provider": "websms", "to": ["+436531234567"],
                               **entry}]})  # fmt: skip
    assert_error(r, 400, source=f"rcs[0].{source}", code=code)
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "entry",
    [{"card": CARD}, {"carousel": {"cards": [CARD, CARD]}},
     {"media": {"image": {"url": "https://ex.com/a.png"}}}],
)  # fmt: skip
def test_rcs_text_does_not_go_with_a_card_or_a_file(client, websms, entry):
    """A MaaP richcardMessage or fileMessage has no text: refused, never dropped."""
    r = post(client, {"rcs": [{"body": "Hi", "provider": "websms", "to": ["+436531234567"],
                               **entry}]})  # fmt: skip
    assert_error(r, 400, source="rcs[0].body", code="unsupported_content")


@pytest.mark.parametrize("channel", ["sms", "whatsapp", "viber"])
def test_cards_are_rcs_only(client, sandbox, channel):
    r = post(client, {channel: [{"body": "Hi", "to": ["+14155550100"], "card": CARD}]})
    assert_error(r, 400, source=f"{channel}[0].card", code="unsupported_content")
    assert not Message.objects.exists()


# --- the RCS capability check ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ({"json": {"capabilities": ["chat", "fileTransfer"]}}, True),
        ({"json": {"capabilities": []}}, False),
        ({"status": 404, "json": {"statusCode": 4120, "statusMessage": "Entity not found"}}, False),
        ({"status": 404, "body": "Not Found"}, None),  # not websms's verdict: a wrong path
        ({"status": 500, "json": {"statusCode": 5000}}, None),
    ],
)
@responses.activate
def test_the_capability_check_asks_websms_for_the_number(answer, verdict):
    responses.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 300})
    caps = responses.get(RCS_CAPS, **answer)
    backend = WebsmsBackend(WEBSMS_CREDS, provider_id=7)
    assert backend.rcs_capable("+43 653 1234567") is verdict
    assert caps.calls[0].request.url == f"{RCS_CAPS}?userContact=%2B436531234567"
    assert caps.calls[0].request.headers["Authorization"] == "Bearer tok-1"
    backend.rcs_capable("+436531234567")  # a verdict is cached, no verdict is asked again
    assert len(caps.calls) == (2 if verdict is None else 1)


@responses.activate
def test_a_number_without_rcs_is_refused_before_sending():
    websms_ready(responses, capabilities=())
    with pytest.raises(SendError) as exc:
        WebsmsBackend(WEBSMS_CREDS, provider_id=7).send(outbound("rcs"))
    assert exc.value.permanent is True
    assert exc.value.status == st.REJECTED_NOT_ON_CHANNEL
    assert exc.value.code == "WEBSMS_NOT_RCS_CAPABLE"
    assert not [c for c in responses.calls if c.request.url == RCS_SEND]


@responses.activate
def test_without_a_verdict_or_with_the_check_off_the_message_goes():
    responses.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 300})
    caps = responses.get(RCS_CAPS, status=503)
    responses.post(RCS_SEND, json={"RCSMessage": {"msgId": MID}})
    WebsmsBackend(WEBSMS_CREDS, provider_id=7).send(outbound("rcs"))
    off = WebsmsBackend({**WEBSMS_CREDS, "rcsCapabilityCheck": False}, provider_id=8)
    off.send(outbound("rcs"))
    assert len(caps.calls) == 1  # the second provider did not ask
    assert len([c for c in responses.calls if c.request.url == RCS_SEND]) == 2


@responses.activate
def test_through_the_api_a_number_without_rcs_ends_not_on_channel(client, websms, run_tasks):
    websms_ready(responses, capabilities=())
    r = run_tasks(
        post, client, {"rcs": [{"body": "Hi", "provider": "websms", "to": ["+436531234567"]}]}
    )
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    message = client.get(f"{URL}/{mid}").json()
    assert message["status"]["name"] == st.REJECTED_NOT_ON_CHANNEL
    assert message["error"]["code"] == "WEBSMS_NOT_RCS_CAPABLE"
    assert not [c for c in responses.calls if c.request.url == RCS_SEND]


def test_the_sandbox_answers_the_capability_check_by_its_magic_numbers():
    sandbox = SandboxBackend({})
    assert sandbox.rcs_capable("+14155550003") is False
    assert sandbox.rcs_capable("+14155550100") is True


# --- templates and previews --------------------------------------------------------------------


def test_an_rcs_template_with_a_carousel_previews_and_sends_rendered(client, sandbox, run_tasks):
    data = {
        "body": "",
        "carousel": {
            "cards": [
                {"title": "Order {{orderId}}", "description": "Hi {{name}}", "buttons": ["OK"]},
                {"title": "Help", "media": {"image": {"url": "https://ex.com/h.png"}}},
            ]
        },
        "buttons": ["Stop"],
    }
    r = client.post("/api/v1/templates", {"name": "cards", "mode": "rcs", "data": data},
                    format="json")  # fmt: skip
    assert r.status_code == 201, r.content
    values = {"orderId": "o-1", "name": "Ann"}
    r = client.post("/api/v1/templates/cards/preview", {"data": values}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["carousel"]["cards"][0] == {
        "title": "Order o-1",
        "description": "Hi Ann",
        "buttons": ["OK"],
    }
    assert r.json()["buttons"] == ["Stop"]
    r = run_tasks(post, client, {"rcs": [{"template": "cards", "data": values,
                                          "to": ["+14155550100"]}]})  # fmt: skip
    assert r.status_code == 202, r.content
    outbox = SandboxOutboxEntry.objects.get()
    assert outbox.channel == "rcs"
    assert outbox.payload["carousel"]["cards"][0]["title"] == "Order o-1"
    assert outbox.payload["carousel"]["cards"][1]["media"] == {
        "image": {"url": "https://ex.com/h.png"}
    }
    assert outbox.payload["buttons"] == ["Stop"]


def test_a_card_placeholder_without_a_value_is_a_400(client, sandbox, tenant):
    card = {"title": "Order {{orderId}}"}
    r = post(client, {"rcs": [{"body": "", "card": card, "to": ["+14155550100"]}]})
    assert_error(r, 400, source="rcs[0].data.orderId", code="missing_placeholder")
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("mode", "data", "source", "code"),
    [
        ("sms", {"body": "Hi", "card": {"title": "T"}}, "data.card", "unknown_field"),
        ("whatsapp", {"body": "Hi", "carousel": {"cards": []}}, "data.carousel",
         "unknown_field"),
        ("rcs", {"body": "", "card": {"buttons": ["x"]}}, "data.card", "invalid_content"),
        ("rcs", {"body": "", "card": {"title": "{{#x}}"}}, "data.card.title", "template_syntax"),
        ("rcs", {"body": ""}, "data.body", "required"),
        ("viber", {"body": "", "media": {"video": VIDEO}, "bogus": 1}, "data.bogus",
         "unknown_field"),
    ],
)  # fmt: skip
def test_rich_template_data_is_checked(client, sandbox, mode, data, source, code):
    r = client.post("/api/v1/templates", {"name": "t", "mode": mode, "data": data},
                    format="json")  # fmt: skip
    assert_error(r, 400, source=source, code=code)


@responses.activate
def test_a_viber_video_template_without_text_previews_and_sends(client, messente, run_tasks):
    data = {"body": "", "media": {"video": VIDEO}}
    r = client.post("/api/v1/templates", {"name": "ad", "mode": "viber", "data": data},
                    format="json")  # fmt: skip
    assert r.status_code == 201, r.content
    r = client.post("/api/v1/templates/ad/preview", {"data": {}}, format="json")
    assert r.status_code == 200, r.content
    assert (r.json()["body"], r.json()["media"]) == ("", {"video": VIDEO})
    responses.post(MESSENTE, status=201, json=messente_created())
    entry = {"template": "ad", "provider": "messente", "to": ["+436531234567"], "from": "Acme"}
    r = run_tasks(post, client, {"viber": [entry]})
    assert r.status_code == 202, r.content
    sent = messente_entry(responses.calls[0])
    assert sent["video"] == WIRE_VIDEO
    assert "text" not in sent


# --- the sandbox's outbox ----------------------------------------------------------------------


def test_the_outbox_keeps_and_shows_viber_video_and_rcs_cards(client, sandbox, run_tasks, tenant):
    send = [
        {"viber": [{"body": "Our ad", "to": ["+14155550100"], "media": {"video": VIDEO},
                    "buttons": ["Play"]}]},
        {"rcs": [{"body": "", "to": ["+14155550100"],
                  "carousel": {"cards": [CARD, {"title": "Second card"}]}}]},
    ]  # fmt: skip
    for body in send:
        r = run_tasks(post, client, body)
        assert r.status_code == 202, r.content
    viber = SandboxOutboxEntry.objects.get(channel="viber")
    assert viber.payload["media"] == {"video": VIDEO}
    assert viber.payload["buttons"] == ["Play"]
    rcs = SandboxOutboxEntry.objects.get(channel="rcs")
    assert [c["title"] for c in rcs.payload["carousel"]["cards"]] == ["Your order", "Second card"]
    assert Message.objects.filter(status=st.DELIVERED_TO_HANDSET).count() == 2

    admin = staff_user("alice", tenant=tenant, role="tenant_admin")
    client.force_login(admin)
    screens = {}
    for channel in ("viber", "rcs"):
        url = reverse("admin:providers_sandboxoutboxentry_conversation", args=[sandbox.pk, channel])
        screens[channel] = client.get(f"{url}?{urlencode({'to': '+14155550100'})}")
        assert screens[channel].status_code == 200
    viber_html = screens["viber"].content.decode()
    assert "video: https://ex.com/v.mp4 (42 s)" in viber_html
    assert "Play" in viber_html
    rcs_html = screens["rcs"].content.decode()
    for shown in (
        "Your order",
        "Arrives Tuesday",
        "Second card",
        "Track",
        "image: https://ex.com/box.png",
    ):
        assert shown in rcs_html


def test_content_parse_reads_cards_and_video_details():
    content = content_parse(
        {"carousel": {"cards": [CARD, {"title": "B"}]}, "buttons": ["Stop"]}, ""
    )
    assert [c.title for c in content.cards] == ["Your order", "B"]
    assert content.cards[0].media.url == "https://ex.com/box.png"
    assert [b.text for b in content.cards[0].buttons] == ["Reschedule", "Track"]
    video = content_parse({"media": {"video": VIDEO}}).media[0]
    assert (video.thumbnail, video.size, video.duration) == ("https://ex.com/v.jpg", 12_000_000, 42)
    assert video.as_dict() == VIDEO


@responses.activate
def test_an_omnimessage_moves_from_rcs_to_sms_when_websms_says_no_rcs(
    client, sandbox, websms, run_tasks
):
    websms_ready(responses, capabilities=())
    body = {
        "to": "+436531234567",
        "messages": [
            {"channel": "rcs", "text": "Hi by RCS", "provider": "websms"},
            {"channel": "sms", "text": "Hi by SMS"},
        ],
    }
    r = run_tasks(client.post, "/api/v1/omnimessages", body, format="json")
    assert r.status_code == 201, r.content
    report = client.get(f"/api/v1/omnimessages/{r.json()['omnimessageId']}/status").json()
    assert [(s["channel"], s["status"]["name"]) for s in report["statuses"]] == [
        ("rcs", st.REJECTED_NOT_ON_CHANNEL),
        ("sms", st.DELIVERED_TO_HANDSET),
    ]
    assert list(SandboxOutboxEntry.objects.values_list("channel", "body")) == [("sms", "Hi by SMS")]
    assert not [c for c in responses.calls if c.request.url == RCS_SEND]


@pytest.fixture
def meta(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="meta",
        provider_type="meta_whatsapp",
        channels=["whatsapp"],
        credentials={
            "accessToken": "t",
            "phoneNumberId": "1",
            "appSecret": "s",
            "verifyToken": "v",
        },
    )


def test_a_video_thumbnail_is_refused_where_it_is_not_sent(client, meta):
    video = {"url": "https://ex.com/v.mp4", "thumbnail": "https://ex.com/t.jpg"}
    entry = {"body": "Ad", "provider": "meta", "to": ["+14155550100"], "media": {"video": video}}
    r = post(client, {"whatsapp": [entry]})
    assert_error(r, 400, source="whatsapp[0].media.video.thumbnail", code="unsupported_content")
    assert not Message.objects.exists()
