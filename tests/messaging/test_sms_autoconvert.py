"""SMS details (issue 11, Messente's SMS object): `autoconvert` on/full/off (GSM 03.38
replacements, so a text stays GSM-7 and in fewer segments), `udh` passthrough, and sender id
validation, from the send API to the provider's exact request."""

import json
from urllib.parse import parse_qsl

import pytest
import responses

from core.sms import gsm_convert, sender_problem, sms_info, udh_problem, udh_text_capacity
from messaging.models import Message
from providers.models import SandboxOutboxEntry
from tests.factories import ProviderFactory, TemplateFactory
from tests.helpers import assert_error, counts

MESSENTE_API = "https://api.messente.com/v1/omnimessage"
VONAGE_API = "https://rest.nexmo.com/sms/json"
# Messente's own examples (messente.com/documentation/tools/autoreplace): "on" turns the
# quotes into GSM, UCS-2 2 SMS → GSM 03.38 1 SMS; "full" also takes the diaeresis off.
BOOK_ON = "The last book I read was called „Farenheit 451“ by Ray Bradbury - I really enjoyed it!"
BOOK_FULL = (
    "The last book I read was called „Wuthering Heights“ by by Emily Brontë - I really enjoyed it!"
)
CONCAT_UDH = "050003CC0201"  # concatenation IE: reference CC, part 1 of 2


def sms(body, **extra):
    return {"sms": [{"body": body, "to": ["+37251000000"], **extra}]}


def send(client, body):
    return client.post("/api/v1/messages", body, format="json")


# --- the conversion ------------------------------------------------------------------------


def test_messente_examples_stay_gsm_and_cost_one_sms():
    assert (sms_info(BOOK_ON).encoding, sms_info(BOOK_ON).segments) == ("UCS-2", 2)
    on = gsm_convert(BOOK_ON, "on")
    assert on == BOOK_ON.replace("„", '"').replace("“", '"')
    assert (sms_info(on).encoding, sms_info(on).segments) == ("GSM-7", 1)

    # "on" keeps letters: ë has no look-alike, only "full" replaces it.
    assert sms_info(gsm_convert(BOOK_FULL, "on")).encoding == "UCS-2"
    full = gsm_convert(BOOK_FULL, "full")
    assert full == (
        'The last book I read was called "Wuthering Heights" by by Emily Bronte - I really '
        "enjoyed it!"
    )
    assert (sms_info(full).encoding, sms_info(full).segments) == ("GSM-7", 1)
    assert gsm_convert(BOOK_FULL, "off") == BOOK_FULL


def test_a_160_character_text_with_one_smart_quote():
    text = "Hi Ann, we’re " + "a" * 146
    assert len(text) == 160
    assert (sms_info(text).encoding, sms_info(text).segments) == ("UCS-2", 3)
    converted = gsm_convert(text, "on")
    assert converted == text.replace("’", "'")
    assert (sms_info(converted).encoding, sms_info(converted).segments) == ("GSM-7", 1)


@pytest.mark.parametrize(
    ("text", "on", "full"),
    [
        ("“Quoted” ‘single’ «guillemets»", '"Quoted" \'single\' "guillemets"', None),
        ("9–5, 2020—2024, a‑b, −3", "9-5, 2020-2024, a-b, -3", None),
        ("Wait…", "Wait...", None),
        ("10\u00a0km\u2009/\u202fh\tok", "10 km / h ok", None),
        ("zero\u200bwidth\u00adsoft\ufeff", "zerowidthsoft", None),
        ("e\u0301te\u0301", "été", None),  # decomposed é is composed: a GSM letter
        ("Ünïcödé ñ ç ł", "Ünïcödé ñ ç ł", "Ünicödé ñ c l"),  # GSM letters (Ü, ö, é, ñ) stay
        ("Crème brûlée", "Crème brûlée", "Crème brulée"),
        ("© 2024 Acme™ ½ price", "© 2024 Acme™ ½ price", "(c) 2024 AcmeTM 1/2 price"),
        ("Привет, Щука", "Привет, Щука", "Privet, Shchuka"),
        ("Ωμέγα αβγ", "Ωμέγα αβγ", "ΩMEΓA ABΓ"),
        ("Thanks 👍🏽 😀", "Thanks 👍🏽 😀", "Thanks ? ?"),
        ("中文", "中文", "??"),
    ],
)
def test_modes(text, on, full):
    assert gsm_convert(text, "on") == on
    assert gsm_convert(text, "full") == (full if full is not None else on)
    assert gsm_convert(text, "off") == text
    # "full" always ends GSM-7; "on" whenever only look-alikes were in the way.
    assert sms_info(gsm_convert(text, "full")).encoding == "GSM-7"


def test_gsm_text_is_never_changed():
    text = "Plain @£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà ^{}\\[~]|€"
    for mode in ("on", "full", "off"):
        assert gsm_convert(text, mode) == text


# --- udh and sender rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("udh", "ok"),
    [
        (CONCAT_UDH, True),
        ("050003cc0201", True),
        ("0608040001AA02", True),  # 16-bit reference concatenation
        ("0605041581158A", True),  # application port addressing, 16 bit
        ("", False),
        ("05 00 03 CC 02 01", False),
        ("050003CC020", False),  # odd number of digits
        ("zz0003CC0201", False),
        ("040003CC0201", False),  # UDHL says 4, 5 follow
        ("0500050102", False),  # UDHL says 5, 4 follow
        ("050004CC0201", False),  # the IE says 4 octets of data, 3 are there
        ("0200", False),  # UDHL 2 but one octet
        ("8C" + "00" * 140, False),  # longer than an SMS
    ],
)
def test_udh_rules(udh, ok):
    assert (udh_problem(udh) == "") is ok, udh_problem(udh)


def test_udh_leaves_the_room_of_a_concatenated_part():
    assert udh_text_capacity(CONCAT_UDH, "GSM-7") == 153
    assert udh_text_capacity(CONCAT_UDH, "UCS-2") == 67
    assert udh_text_capacity("0608040001AA02", "GSM-7") == 152


@pytest.mark.parametrize(
    ("sender", "ok"),
    [
        ("DLHVRY", True),
        ("Acme Shop", True),
        ("A.B-C_D&E 1", True),
        ("Messente123", True),  # 11
        ("+14155550100", True),
        ("14155550100", True),
        ("123", True),  # a short code
        ("+123456789012345", True),  # 15 digits
        ("MessenteABCD", False),  # 12
        ("+1234567890123456", False),  # 16 digits
        ("12", False),
        ("+0123456", False),
        ("+1 415 555 0100", False),
        ("Acme#1", False),
        ("Café", False),
        ("1234 5678", False),  # no letter
        (" Acme", False),
    ],
)
def test_sender_rules(sender, ok):
    assert (sender_problem(sender) == "") is ok, sender_problem(sender)


# --- through the send API: what is stored ------------------------------------------------


@pytest.fixture
def messente(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="messente",
        provider_type="messente",
        channels=["sms", "viber", "whatsapp"],
        credentials={"username": "api_user", "password": "api_password"},
        is_tenant_default=True,
    )


@pytest.fixture
def vonage(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="vonage",
        provider_type="vonage",
        channels=["sms"],
        credentials={"apiKey": "abc123", "apiSecret": "s3cret"},
    )


@pytest.mark.parametrize(
    ("extra", "stored"),
    [
        ({}, BOOK_ON.replace("„", '"').replace("“", '"')),  # Messente's default: on
        ({"autoconvert": "on"}, BOOK_ON.replace("„", '"').replace("“", '"')),
        ({"autoconvert": "full"}, BOOK_ON.replace("„", '"').replace("“", '"')),
        ({"autoconvert": "off"}, BOOK_ON),
    ],
)
def test_the_stored_body_is_the_converted_text(client, sandbox, extra, stored):
    r = send(client, sms(BOOK_ON, **extra))
    assert r.status_code == 202, r.content
    message = Message.objects.get()
    assert message.body == stored
    # The admin's and the preview's counts come from the stored body.
    assert sms_info(message.body).segments == (2 if extra.get("autoconvert") == "off" else 1)
    assert (message.content or {}).get("autoconvert") == extra.get("autoconvert")


def test_a_template_is_converted_after_rendering(client, sandbox, tenant):
    TemplateFactory(tenant=tenant, name="ship", mode="sms",
                    data={"body": "Hi {{name}} – your parcel’s on its way…"})  # fmt: skip
    body = {"sms": [{"template": "ship", "data": {"name": "Zoë"}, "to": ["+37251000000"],
                     "autoconvert": "full"}]}  # fmt: skip
    assert send(client, body).status_code == 202
    assert Message.objects.get().body == "Hi Zoe - your parcel's on its way..."


def test_the_length_limit_applies_to_the_converted_text(client, sandbox):
    # 1,600 characters, of which 534 ellipses become 1,602 characters under "on".
    text = "…" * 534 + "a" * (1600 - 534)
    before = counts()
    r = send(client, sms(text))
    assert_error(r, 400, source="sms[0].body", code="body_too_long")
    assert counts() == before
    assert send(client, sms(text, autoconvert="off")).status_code == 202


# --- through to the provider: the exact request -------------------------------------------


def messente_entry(call) -> dict:
    body = json.loads(call.request.body)
    [entry] = body["messages"]
    entry.pop("ttl")
    return entry


def created(mid="m1"):
    return {"messages": [{"channel": "sms", "message_id": mid, "sender": "Acme"}],
            "to": "+37251000000", "omnimessage_id": "om-1"}  # fmt: skip


@responses.activate
@pytest.mark.parametrize(
    ("extra", "entry"),
    [
        # No mode given: the converted text, and Messente's own default (on) applies too.
        ({}, {"text": BOOK_ON.replace("„", '"').replace("“", '"')}),
        ({"autoconvert": "off"}, {"text": BOOK_ON, "autoconvert": "off"}),
        (
            {"autoconvert": "full", "udh": CONCAT_UDH},
            {
                "text": BOOK_ON.replace("„", '"').replace("“", '"'),
                "autoconvert": "full",
                "udh": CONCAT_UDH,
            },
        ),  # fmt: skip
    ],
)
def test_messente_receives_the_converted_text_mode_and_udh(
    client, messente, run_tasks, extra, entry
):
    responses.post(MESSENTE_API, status=201, json=created())
    r = run_tasks(send, client, sms(BOOK_ON, senderId="Acme", **extra))
    assert r.status_code == 202, r.content
    assert messente_entry(responses.calls[0]) == {"channel": "sms", "sender": "Acme", **entry}
    assert Message.objects.get().body == entry["text"]


@responses.activate
@pytest.mark.parametrize(
    ("autoconvert", "text", "kind"),
    [
        (None, "Your code is 1234 - valid 5 minutes...", "text"),
        ("off", "Your code is 1234 – valid 5 minutes…", "unicode"),
    ],
)
def test_vonage_receives_the_converted_text_as_gsm(
    client, vonage, run_tasks, autoconvert, text, kind
):
    responses.post(
        VONAGE_API,
        json={"message-count": "1", "messages": [{"to": "37251000000", "message-id": "v1",
              "status": "0", "message-price": "0.03", "network": "1"}]},
    )  # fmt: skip
    extra = {"provider": "vonage", "from": "Acme"}
    if autoconvert:
        extra["autoconvert"] = autoconvert
    r = run_tasks(send, client, sms("Your code is 1234 – valid 5 minutes…", **extra))
    assert r.status_code == 202, r.content
    form = dict(parse_qsl(responses.calls[0].request.body))
    # Converted, the text goes as GSM (type=text), not as UCS-2 at half the length.
    assert (form["text"], form["type"], form["from"]) == (text, kind, "Acme")


def test_the_sandbox_outbox_keeps_the_udh(client, sandbox, run_tasks):
    r = run_tasks(send, client, sms("Part one", udh=CONCAT_UDH))
    assert r.status_code == 202, r.content
    entry = SandboxOutboxEntry.objects.get()
    assert (entry.body, entry.payload["udh"]) == ("Part one", CONCAT_UDH)


# --- refusals: 400 naming the field, nothing stored ------------------------------------------


@pytest.mark.parametrize(
    ("body", "source", "code"),
    [
        (sms("Hi", autoconvert="maybe"), "sms[0].autoconvert", "invalid_choice"),
        (sms("Hi", autoconvert=True), "sms[0].autoconvert", "invalid_choice"),
        (sms("Hi", udh="05 00 03"), "sms[0].udh", "invalid_udh"),
        (sms("Hi", udh="040003CC0201"), "sms[0].udh", "invalid_udh"),
        (sms("Hi", udh=5), "sms[0].udh", "invalid_udh"),
        # With a header the text is one SMS: 153 GSM septets beside a 6-octet header.
        (sms("a" * 154, udh=CONCAT_UDH), "sms[0].body", "body_too_long"),
        (sms("ж" * 68, udh=CONCAT_UDH), "sms[0].body", "body_too_long"),
        (
            {"whatsapp": [{"body": "Hi", "to": ["+37251000000"], "autoconvert": "on"}]},
            "whatsapp[0].autoconvert",
            "unknown_field",
        ),
        (
            {"whatsapp": [{"body": "Hi", "to": ["+37251000000"], "udh": CONCAT_UDH}]},
            "whatsapp[0].udh",
            "unknown_field",
        ),
    ],
)
def test_bad_autoconvert_and_udh(client, sandbox, body, source, code):
    before = counts()
    assert_error(send(client, body), 400, source=source, code=code)
    assert counts() == before


def test_udh_fits_exactly(client, sandbox):
    assert send(client, sms("a" * 153, udh=CONCAT_UDH)).status_code == 202


@responses.activate
def test_a_provider_without_udh_refuses_it(client, vonage):
    before = counts()
    (err,) = assert_error(
        send(client, sms("Hi", provider="vonage", udh=CONCAT_UDH)),
        400,
        source="sms[0].udh",
        code="unsupported_content",
    )
    assert "Vonage" in err["detail"]
    assert counts() == before
    assert not responses.calls


@pytest.mark.parametrize("key", ["senderId", "from", "originationNumber"])
@pytest.mark.parametrize("sender", ["MessenteABCD", "Acme#1", "12", "+1 415 555 0100"])
def test_a_bad_sender_names_the_field(client, sandbox, key, sender):
    before = counts()
    (err,) = assert_error(
        send(client, sms("Hi", **{key: sender})), 400, source=f"sms[0].{key}", code="invalid_sender"
    )
    assert sender in err["detail"]
    assert counts() == before


@pytest.mark.parametrize("sender", ["DLHVRY", "Acme Shop", "+14155550100", "12345"])
def test_good_senders_are_stored(client, sandbox, sender):
    assert send(client, sms("Hi", senderId=sender)).status_code == 202
    assert Message.objects.get().sender == sender


def test_a_templates_bad_from_names_the_entrys_sender(client, sandbox, tenant):
    TemplateFactory(
        tenant=tenant, name="t", mode="sms", data={"body": "Hi", "from": "Far Too Long"}
    )
    (err,) = assert_error(
        send(client, {"sms": [{"template": "t", "to": ["+37251000000"]}]}),
        400,
        source="sms[0].senderId",
        code="invalid_sender",
    )
    assert "template 't' from" in err["detail"]
    # The entry's own sender wins over the template's.
    body = {"sms": [{"template": "t", "to": ["+37251000000"], "senderId": "Acme"}]}
    assert send(client, body).status_code == 202


def test_the_providers_bad_default_sender_is_refused_when_it_applies(client, tenant):
    ProviderFactory(
        tenant=tenant, name="sbx", is_tenant_default=True, default_sender="Acme & Co Ltd"
    )
    (err,) = assert_error(
        send(client, sms("Hi")), 400, source="sms[0].senderId", code="invalid_sender"
    )
    assert "provider 'sbx' defaultSender" in err["detail"]
    assert send(client, sms("Hi", senderId="Acme")).status_code == 202
    # WhatsApp senders are the provider's own ids: not checked as SMS sender ids.
    body = {"whatsapp": [{"body": "Hi", "to": ["+37251000000"]}]}
    assert send(client, body).status_code == 202


def test_provider_specific_senders(client, tenant):
    ProviderFactory(tenant=tenant, name="tw", provider_type="twilio", channels=["sms"],
                    credentials={"accountSid": "AC" + "0" * 32, "authToken": "t"})  # fmt: skip
    aws = {"accessKeyId": "AKIA", "secretAccessKey": "s", "region": "us-east-1",
           "originationIdentity": "pool-1"}  # fmt: skip
    ProviderFactory(tenant=tenant, name="aws", provider_type="aws_sms", channels=["sms"],
                    credentials=aws)  # fmt: skip
    # A Twilio Messaging Service SID, AWS pool ids and ARNs are the provider's own senders.
    for provider, sender in [
        ("tw", "MG" + "a" * 32),
        ("aws", "pool-0123456789abcdef0123456789abcdef"),
        ("aws", "arn:aws:sms-voice:us-east-1:111122223333:pool/pool-0123"),
    ]:
        r = send(client, sms("Hi", provider=provider, senderId=sender))
        assert r.status_code == 202, (provider, r.content)
    assert_error(
        send(client, sms("Hi", provider="tw", senderId="MG" + "a" * 31)),
        400,
        source="sms[0].senderId",
    )


# --- preview ------------------------------------------------------------------------------------


@pytest.fixture
def book(tenant):
    return TemplateFactory(tenant=tenant, name="book", mode="sms", data={"body": "{{text}}"})


@pytest.mark.parametrize(
    ("autoconvert", "text", "body", "encoding", "segments"),
    [
        (None, BOOK_ON, BOOK_ON.replace("„", '"').replace("“", '"'), "GSM-7", 1),
        ("on", BOOK_ON, BOOK_ON.replace("„", '"').replace("“", '"'), "GSM-7", 1),
        ("off", BOOK_ON, BOOK_ON, "UCS-2", 2),
        ("on", BOOK_FULL, BOOK_FULL.replace("„", '"').replace("“", '"'), "UCS-2", 2),
        ("full", BOOK_FULL, gsm_convert(BOOK_FULL, "full"), "GSM-7", 1),
    ],
)
def test_preview_counts_the_converted_text(client, book, autoconvert, text, body, encoding,
                                           segments):  # fmt: skip
    payload = {"data": {"text": text}}
    if autoconvert:
        payload["autoconvert"] = autoconvert
    r = client.post("/api/v1/templates/book/preview", payload, format="json")
    assert r.status_code == 200, r.content
    answer = r.json()
    assert answer["body"] == body
    assert (answer["encoding"], answer["segments"], answer["characters"]) == (
        encoding, segments, len(body),
    )  # fmt: skip
    assert answer["autoconvert"] == (autoconvert or "on")


def test_bad_preview_autoconvert(client, book, templates):
    url = "/api/v1/templates/{}/preview"
    r = client.post(url.format("book"), {"data": {"text": "x"}, "autoconvert": "all"},
                    format="json")  # fmt: skip
    assert_error(r, 400, source="autoconvert", code="invalid_choice")
    r = client.post(url.format("wa"), {"data": {"name": "x"}, "autoconvert": "on"}, format="json")
    assert_error(r, 400, source="autoconvert", code="unknown_field")
