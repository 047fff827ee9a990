"""Each WhatsApp adapter's list_templates: the exact requests (URL, auth, query, paging) and
the parsing of the providers' own documented answers.

Answers copied from: facebook/openapi @ ecba623b `business-messaging-api_v23.0.yaml`
(GET /{Version}/{WABA-ID}/message_templates, its example response); infobip-api-java-client
@ 5e880b14 `WhatsAppApiTest.shouldGetMediaTemplateGetWhatsAppTemplates`; twilio-oai @ d50069b4
`spec/yaml/twilio_content_v1.yaml` (GET /v1/ContentAndApprovals, example readResults)."""

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from providers.backends import SendError, backend_types
from providers.backends.base import ListedTemplate
from providers.backends.infobip import InfobipBackend
from providers.backends.meta_whatsapp import MetaWhatsAppBackend
from providers.backends.twilio import TwilioBackend

# --- Meta ----------------------------------------------------------------------------------
META_CREDS = {
    "accessToken": "EAAG-token",
    "phoneNumberId": "106540352242922",
    "appSecret": "s",
    "verifyToken": "v",
    "wabaId": "102290129340398",
}
META_URL = "https://graph.facebook.com/v23.0/102290129340398/message_templates"
HELLO = {
    "category": "MARKETING",
    "components": [
        {"format": "TEXT", "text": "Hello World", "type": "HEADER"},
        {"text": "Welcome and congratulations!!", "type": "BODY"},
        {"text": "WhatsApp Business API Team", "type": "FOOTER"},
    ],
    "id": "1192339204654487",
    "language": "en_US",
    "name": "hello_world",
    "previous_category": "ACCOUNT_UPDATE",
    "status": "APPROVED",
}
PROMO = {
    "category": "MARKETING",
    "components": [
        {"format": "TEXT", "text": "Fall Sale", "type": "HEADER"},
        {
            "example": {"body_text": [["Mark", "FALL25"]]},
            "text": "Hi {{1}}, our Fall Sale is on! Use promo code {{2}}",
            "type": "BODY",
        },
        {"buttons": [{"text": "Stop promotions", "type": "QUICK_REPLY"}], "type": "BUTTONS"},
    ],
    "id": "920070352646140",
    "language": "en_US",
    "name": "2023_april_promo",
    "status": "REJECTED",
}


def _query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


@responses.activate
def test_meta_lists_templates_following_the_after_cursor_while_there_is_a_next_page():
    first = {
        "data": [HELLO],
        "paging": {
            "cursors": {"after": "MjQZD", "before": "MAZDZD"},
            "next": f"{META_URL}?limit=100&after=MjQZD",
        },
    }
    last = {"data": [PROMO], "paging": {"cursors": {"after": "MjUZD", "before": "MjQZD"}}}
    responses.get(
        META_URL, json=first, match=[responses.matchers.query_param_matcher({"limit": "100"})]
    )
    responses.get(
        META_URL,
        json=last,
        match=[responses.matchers.query_param_matcher({"limit": "100", "after": "MjQZD"})],
    )
    listed = MetaWhatsAppBackend(META_CREDS).list_templates()
    assert len(responses.calls) == 2  # no `next` on the second page: the end
    for call in responses.calls:
        assert call.request.method == "GET"
        assert call.request.url.split("?")[0] == META_URL
        assert call.request.headers["Authorization"] == "Bearer EAAG-token"
    assert _query(responses.calls[1]) == {"limit": "100", "after": "MjQZD"}
    assert listed == [
        ListedTemplate(
            name="hello_world", language="en_US", status="APPROVED", raw_status="APPROVED",
            category="MARKETING", components=HELLO["components"], template_id="1192339204654487",
        ),
        ListedTemplate(
            name="2023_april_promo", language="en_US", status="REJECTED", raw_status="REJECTED",
            category="MARKETING", components=PROMO["components"], template_id="920070352646140",
        ),
    ]  # fmt: skip


@responses.activate
def test_meta_without_a_waba_id_says_what_to_set_and_calls_nobody():
    creds = {k: v for k, v in META_CREDS.items() if k != "wabaId"}
    with pytest.raises(SendError) as exc:
        MetaWhatsAppBackend(creds).list_templates()
    assert exc.value.code == "NO_WABA_ID" and "wabaId" in exc.value.description
    assert not responses.calls


@responses.activate
def test_meta_refusal_is_a_send_error_with_graphs_code():
    responses.get(
        META_URL,
        status=401,
        json={"error": {"message": "Error validating access token", "type": "OAuthException",
                        "code": 190, "fbtrace_id": "A1"}},
    )  # fmt: skip
    with pytest.raises(SendError) as exc:
        MetaWhatsAppBackend(META_CREDS).list_templates()
    assert exc.value.code == "190" and exc.value.permanent
    assert "access token" in exc.value.description


@responses.activate
def test_meta_paging_is_bounded(monkeypatch):
    monkeypatch.setattr(MetaWhatsAppBackend, "max_template_pages", 3)
    endless = {
        "data": [HELLO],
        "paging": {"cursors": {"after": "X"}, "next": f"{META_URL}?after=X"},
    }
    responses.get(META_URL, json=endless)
    with pytest.raises(SendError) as exc:
        MetaWhatsAppBackend(META_CREDS).list_templates()
    assert exc.value.code == "TOO_MANY_PAGES"
    assert len(responses.calls) == 3


def test_meta_unknown_status_word_is_kept_raw_and_normalised_to_unknown():
    from providers.backends.meta_whatsapp import _listed

    item = _listed({**HELLO, "status": "SOMETHING_NEW"})
    assert (item.status, item.raw_status) == ("UNKNOWN", "SOMETHING_NEW")


def test_meta_template_key_is_the_language_the_send_uses():
    from providers.backends.content import ProviderTemplate

    backend = MetaWhatsAppBackend({**META_CREDS, "templateLanguage": "de"})
    assert backend.template_key(ProviderTemplate(name="x")) == ("x", "de")
    assert backend.template_key(ProviderTemplate(name="x", language="pt_BR")) == ("x", "pt_BR")
    assert MetaWhatsAppBackend(META_CREDS).template_key(ProviderTemplate(name="x")) == (
        "x",
        "en_US",
    )


# --- Infobip -------------------------------------------------------------------------------
IB_URL = "https://api.infobip.com/whatsapp/2/senders/447796344125/templates"
IB_MEDIA = {
    "id": "111",
    "businessAccountId": 222,
    "name": "media_template",
    "language": "en",
    "status": "APPROVED",
    "category": "MARKETING",
    "structure": {
        "header": {"format": "IMAGE"},
        "body": {"text": "example {{1}} body"},
        "footer": {"text": "exampleFooter"},
        "type": "MEDIA",
    },
    "quality": "HIGH",
    "platform": {"entityId": "entityId", "applicationId": "applicationId"},
    "createdAt": "2024-01-01T00:00:00.000+0000",
    "lastUpdatedAt": "2024-01-01T00:00:00.000+0000",
}


@responses.activate
def test_infobip_lists_the_default_senders_templates():
    paused = {**IB_MEDIA, "id": "112", "name": "promo", "language": "de", "status": "FIRST_PAUSED"}
    responses.get(IB_URL, json={"templates": [IB_MEDIA, paused]})
    listed = InfobipBackend({"apiKey": "ib-key"}, default_sender="+447796344125").list_templates()
    (call,) = responses.calls
    assert call.request.url == IB_URL  # the sender's digits, no query
    assert call.request.headers["Authorization"] == "App ib-key"
    assert listed == [
        ListedTemplate(
            name="media_template", language="en", status="APPROVED", raw_status="APPROVED",
            category="MARKETING", components=IB_MEDIA["structure"], template_id="111",
        ),
        ListedTemplate(
            name="promo", language="de", status="PAUSED", raw_status="FIRST_PAUSED",
            category="MARKETING", components=IB_MEDIA["structure"], template_id="112",
        ),
    ]  # fmt: skip


@responses.activate
def test_infobip_without_a_sender_says_so_and_calls_nobody():
    with pytest.raises(SendError) as exc:
        InfobipBackend({"apiKey": "k"}).list_templates()
    assert exc.value.code == "NO_SENDER"
    assert not responses.calls


@responses.activate
def test_infobip_refusal_is_a_send_error():
    responses.get(
        IB_URL,
        status=401,
        json={"requestError": {"serviceException": {"messageId": "UNAUTHORIZED",
                                                    "text": "Invalid login details"}}},
    )  # fmt: skip
    with pytest.raises(SendError) as exc:
        InfobipBackend({"apiKey": "bad"}, default_sender="447796344125").list_templates()
    assert exc.value.code == "UNAUTHORIZED" and "Invalid login" in exc.value.description


# --- Twilio --------------------------------------------------------------------------------
TW_CREDS = {"accountSid": "AC" + "a" * 32, "authToken": "tw-token"}
TW_URL = "https://content.twilio.com/v1/ContentAndApprovals"
SOME = {
    "date_created": "2015-07-30T19:00:00Z",
    "date_updated": "2015-07-30T19:00:00Z",
    "sid": "HX" + "a" * 32,
    "account_sid": "AC" + "a" * 32,
    "friendly_name": "Some content",
    "language": "en",
    "variables": {"name": "foo"},
    "types": {"twilio/text": {"body": "Foo Bar Co is located at 39.7392, 104.9903"}},
    "approval_requests": {
        "name": "", "category": "", "content_type": "", "status": "unsubmitted",
        "rejection_reason": "", "allow_category_change": True,
    },
}  # fmt: skip
MEDIA_TEST = {
    "language": "en",
    "variables": {"1": "name", "2": "typedocument"},
    "friendly_name": "Media Test",
    "account_sid": "AC25c0d4b9093547216c460212e24e77ee",
    "sid": "HX5fcd48a417c1cb59da349ad6d5da4607",
    "types": {"twilio/media": {"body": "{{1}}, Congratulations {{2}}!",
                               "media": ["https://example.com/template"]}},
    "approval_requests": {
        "category": "TRANSACTIONAL", "status": "approved", "rejection_reason": "",
        "name": "Media Test", "content_type": "twilio/media", "allow_category_change": False,
    },
}  # fmt: skip
VIDEO = {
    "language": "en",
    "variables": {"1": "name"},
    "friendly_name": "Video Highlights",
    "sid": "HX15c711fcc6d9ea5268d7ab77938a20ff",
    "types": {"twilio/media": {"body": "Hi there, {{1}}"}},
    # The Approval Fetch shape (approval under `whatsapp`), read the same.
    "approval_requests": {
        "whatsapp": {
            "category": "TRANSACTIONAL", "status": "rejected",
            "rejection_reason": "INVALID_FORMAT. Facebook is not able to create template",
            "name": "Video Highlights", "content_type": "twilio/media",
        }
    },
}  # fmt: skip


def _basic(call) -> str:
    return base64.b64decode(call.request.headers["Authorization"].split()[1]).decode()


@responses.activate
def test_twilio_lists_content_and_approvals_following_next_page_url():
    next_url = f"{TW_URL}?PageSize=2&Page=1&PageToken=PT2"
    responses.get(
        TW_URL,
        json={
            "contents": [SOME, MEDIA_TEST],
            "meta": {"key": "contents", "next_page_url": next_url},
        },
        match=[responses.matchers.query_param_matcher({"PageSize": "1000"})],
    )
    responses.get(
        TW_URL,
        json={"contents": [VIDEO], "meta": {"key": "contents", "next_page_url": None}},
        match=[
            responses.matchers.query_param_matcher(
                {"PageSize": "2", "Page": "1", "PageToken": "PT2"}
            )
        ],
    )
    listed = TwilioBackend(TW_CREDS).list_templates()
    assert len(responses.calls) == 2
    for call in responses.calls:
        assert _basic(call) == f"{'AC' + 'a' * 32}:tw-token"
    assert [(t.name, t.label, t.language, t.status, t.raw_status, t.category) for t in listed] == [
        ("HX" + "a" * 32, "Some content", "en", "UNSUBMITTED", "unsubmitted", ""),
        ("HX5fcd48a417c1cb59da349ad6d5da4607", "Media Test", "en", "APPROVED", "approved",
         "TRANSACTIONAL"),
        ("HX15c711fcc6d9ea5268d7ab77938a20ff", "Video Highlights", "en", "REJECTED", "rejected",
         "TRANSACTIONAL"),
    ]  # fmt: skip
    assert listed[2].components["rejection_reason"].startswith("INVALID_FORMAT")
    assert listed[1].components["types"] == MEDIA_TEST["types"]


@responses.activate
def test_twilio_with_a_custom_base_asks_every_page_of_that_base_only():
    base = "https://twilio-standin.example"
    responses.get(
        f"{base}/v1/ContentAndApprovals",
        json={"contents": [SOME], "meta": {"key": "contents",
              "next_page_url": f"{TW_URL}?PageSize=1&Page=1&PageToken=PT2"}},
        match=[responses.matchers.query_param_matcher({"PageSize": "1000"})],
    )  # fmt: skip
    responses.get(
        f"{base}/v1/ContentAndApprovals",
        json={"contents": [MEDIA_TEST], "meta": {"key": "contents", "next_page_url": None}},
        match=[
            responses.matchers.query_param_matcher(
                {"PageSize": "1", "Page": "1", "PageToken": "PT2"}
            )
        ],
    )
    listed = TwilioBackend({**TW_CREDS, "apiBaseUrl": base}).list_templates()
    assert [urlsplit(c.request.url).netloc for c in responses.calls] == [
        "twilio-standin.example"
    ] * 2
    assert len(listed) == 2


@responses.activate
def test_twilio_refusal_is_a_send_error():
    responses.get(
        TW_URL, status=401,
        json={"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003",
              "status": 401},
    )  # fmt: skip
    with pytest.raises(SendError) as exc:
        TwilioBackend(TW_CREDS).list_templates()
    assert exc.value.code == "20003"


def test_twilio_template_key_is_the_sid_in_any_language():
    from providers.backends.content import ProviderTemplate

    assert TwilioBackend(TW_CREDS).template_key(ProviderTemplate(name="HX1", language="de")) == (
        "HX1",
        None,
    )


def test_types_with_a_catalogue_and_without():
    # websms documents no template listing (its messaging API has send_template only): none.
    listing = {t for t, b in backend_types().items() if b.can_list_templates}
    assert listing == {"meta_whatsapp", "infobip", "twilio"}
