"""Two-way WhatsApp end to end: POST /api/v1/messages/two-way, then the recipient's replies
through the sandbox's inbound webhook; each webhook checked against its own secret."""

import json
import re
from datetime import timedelta

import pytest
import responses
from django.utils import timezone
from rest_framework.test import APIClient

from conversations import tasks
from conversations.models import Conversation, ConversationEvent
from messaging.models import CallbackDelivery, Message
from providers.models import InboundMessage, Provider, SandboxOutboxEntry
from tests.factories import AppFactory, ProviderFactory, issue_key
from tests.helpers import assert_error, verified_with
from tests.providers.test_meta_whatsapp import CREDS, envelope, post_signed

HOOKS = "http://127.0.0.1:8765/hooks/"
RECIPIENT = "+14155550100"
OURS = "+14155550199"
SECRETS = {
    "yes": "yes-secret",
    "no": "no-secret",
    "default": "default-secret",
    "status": "status-secret",
    "invalid": "invalid-secret",
}


def hook(name):
    return {"url": HOOKS + name, "secret": SECRETS[name]}


def two_way(**over):
    body = {
        "from": OURS,
        "message": {"template": "wa", "data": {"name": "Ann"}, "buttons": ["Yes", "No"]},
        "provider": "sandbox",
        "to": {"countryCode": "1", "number": "4155550100"},
        "acceptedResponses": [
            {"messages": ["yes", "1"], "webhook": hook("yes")},
            {"messages": ["no", "2"], "webhook": hook("no")},
        ],
        "dynamicResponseRegex": r"^\d{6}$",
        "webhook": {
            "defaultInbound": hook("default"),
            "status": hook("status"),
            "invalidResponse": hook("invalid"),
        },
        "responseTimeout": 300,
        "context": {"orderId": "order1234"},
        "errorMessage": "Please answer yes or no.",
    }
    body.update(over)
    return body


@pytest.fixture
def hooks():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, re.compile(re.escape(HOOKS) + ".*"), status=200)
        yield rsps


def calls(hooks, name):
    return [c for c in hooks.calls if c.request.url == HOOKS + name]


def events(hooks, name, event):
    return [
        verified_with(c, SECRETS[name])
        for c in calls(hooks, name)
        if json.loads(c.request.body)["event"] == event
    ]


@pytest.fixture
def start(client, sandbox, templates, run_tasks):
    def run(**over):
        r = run_tasks(client.post, "/api/v1/messages/two-way", two_way(**over), format="json")
        assert r.status_code == 202, r.content
        return r.json()

    return run


@pytest.fixture
def reply(anon_client, sandbox, run_tasks):
    def run(text, message_id=None, sender=RECIPIENT, to=OURS):
        body = {"from": sender, "to": to, "text": text, "channel": "whatsapp"}
        if message_id:
            body["messageId"] = message_id
        r = run_tasks(
            anon_client.post,
            f"/webhooks/providers/{sandbox.webhook_token}/inbound",
            body,
            format="json",
        )
        assert r.status_code == 200, r.content
        return r

    return run


def test_an_accepted_reply_goes_to_its_webhook_signed_with_its_secret(hooks, start, reply, client):
    started = start()
    assert set(started) == {"conversationId", "messageId"}
    message = Message.objects.get(pk=started["messageId"])
    assert (message.channel, message.to, message.body) == ("whatsapp", RECIPIENT, "Hi Ann")
    assert message.content["buttons"] == ["Yes", "No"]

    reply("  YES ", message_id="in-1")

    [payload] = events(hooks, "yes", "conversation.reply")
    assert payload["conversationId"] == started["conversationId"]
    assert payload["messageId"] == started["messageId"]
    assert payload["reply"] == "  YES "
    assert payload["context"] == {"orderId": "order1234"}
    assert payload["match"] == {"type": "accepted", "index": 0, "response": "yes"}
    assert payload["inboundId"] == InboundMessage.objects.get().pk
    with pytest.raises(AssertionError):  # not the app's secret, not another webhook's
        verified_with(calls(hooks, "yes")[0], SECRETS["no"])
    assert not calls(hooks, "no") and not calls(hooks, "invalid") and not calls(hooks, "default")

    shown = client.get(f"/api/v1/conversations/{started['conversationId']}").json()
    assert shown["state"] == "RESPONDED"
    assert [r["text"] for r in shown["replies"]] == ["  YES "]
    assert [e["kind"] for e in shown["events"]][:1] == ["created"]
    assert "reply_matched" in [e["kind"] for e in shown["events"]]
    assert "secret" not in json.dumps(shown)


def test_a_reply_matching_the_regex_goes_to_default_inbound(hooks, start, reply):
    started = start()
    reply("123456")
    [payload] = events(hooks, "default", "conversation.reply")
    assert payload["match"]["type"] == "regex"
    assert payload["reply"] == "123456"
    assert payload["conversationId"] == started["conversationId"]
    assert payload["context"] == {"orderId": "order1234"}
    assert Conversation.objects.get().state == "RESPONDED"


def test_an_invalid_reply_gets_the_error_message_and_goes_to_invalid_response(
    hooks, start, reply, sandbox
):
    started = start(errorMessage="Order {{orderId}}: please answer yes or no.")
    reply("maybe later")

    # errorMessage went back to the recipient as WhatsApp text (the sandbox "sent" it).
    [sent] = SandboxOutboxEntry.objects.filter(body="Order order1234: please answer yes or no.")
    assert (sent.channel, sent.to) == ("whatsapp", RECIPIENT)
    [payload] = events(hooks, "invalid", "conversation.invalid_response")
    assert payload["reply"] == "maybe later"
    assert payload["conversationId"] == started["conversationId"]
    assert payload["context"] == {"orderId": "order1234"}
    assert payload["errorMessageId"] == str(sent.message_id)
    assert Conversation.objects.get().state == "AWAITING_RESPONSE"

    reply("2")  # it kept waiting: the next, valid reply is heard
    [payload] = events(hooks, "no", "conversation.reply")
    assert payload["match"]["response"] == "2"
    assert Conversation.objects.get().state == "RESPONDED"


def test_the_timeout_ends_it_and_a_later_reply_goes_to_default_inbound(
    hooks, start, reply, run_tasks, client
):
    started = start()
    assert run_tasks(tasks.sweep) == {"timed_out": 0}  # not yet
    Conversation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert run_tasks(tasks.sweep) == {"timed_out": 1}
    assert run_tasks(tasks.sweep) == {"timed_out": 0}  # once only

    [payload] = events(hooks, "status", "conversation.timed_out")
    assert payload["conversationId"] == started["conversationId"]
    assert payload["state"] == "TIMED_OUT"
    assert payload["context"] == {"orderId": "order1234"}
    shown = client.get(f"/api/v1/conversations/{started['conversationId']}").json()
    assert shown["state"] == "TIMED_OUT"
    assert "timed_out" in [e["kind"] for e in shown["events"]]

    reply("yes")  # too late: not an answer any more, to defaultInbound
    assert not calls(hooks, "yes")
    [late] = events(hooks, "default", "inbound.message")
    assert (late["text"], late["conversationId"], late["state"]) == (
        "yes",
        started["conversationId"],
        "TIMED_OUT",
    )


def test_a_duplicate_inbound_makes_one_webhook_only(hooks, start, reply):
    start()
    reply("yes", message_id="wamid-1")
    reply("yes", message_id="wamid-1")  # the provider's retry
    assert len(calls(hooks, "yes")) == 1
    assert InboundMessage.objects.count() == 1
    assert ConversationEvent.objects.filter(kind="reply_matched").count() == 1
    assert CallbackDelivery.objects.filter(event="conversation.reply").count() == 1


def test_status_changes_of_its_message_go_to_the_status_webhook(hooks, start):
    started = start()  # the sandbox sends it and reports it delivered
    statuses = events(hooks, "status", "conversation.status")
    assert statuses, [c.request.url for c in hooks.calls]
    assert {p["messageId"] for p in statuses} == {started["messageId"]}
    assert {p["conversationId"] for p in statuses} == {started["conversationId"]}
    names = [p["status"]["groupName"] for p in statuses]
    assert "DELIVERED" in names
    assert all(p["context"] == {"orderId": "order1234"} for p in statuses)


def test_a_new_conversation_closes_the_previous_one(hooks, start, reply):
    first = start()
    second = start()
    assert Conversation.objects.get(pk=first["conversationId"]).state == "CLOSED"
    assert Conversation.objects.get(pk=second["conversationId"]).state == "AWAITING_RESPONSE"
    reply("yes")
    [payload] = events(hooks, "yes", "conversation.reply")
    assert payload["conversationId"] == second["conversationId"]


def test_another_sender_keeps_its_own_conversation(hooks, start, reply):
    first = start()
    second = start(**{"from": "+14155550222"})
    assert Conversation.objects.get(pk=first["conversationId"]).state == "AWAITING_RESPONSE"
    reply("yes", to="+14155550222")
    [payload] = events(hooks, "yes", "conversation.reply")
    assert payload["conversationId"] == second["conversationId"]
    assert Conversation.objects.get(pk=first["conversationId"]).state == "AWAITING_RESPONSE"


def test_another_app_cannot_see_the_conversation(start, tenant):
    started = start()
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=issue_key(AppFactory(tenant=tenant, name="other")))
    r = other.get(f"/api/v1/conversations/{started['conversationId']}")
    assert_error(r, 404)


# --- refused requests: the error document, the field named, nothing stored -----------------


@pytest.mark.parametrize(
    "over, source, code",
    [
        ({"dynamicResponseRegex": "^(\\d{6}$"}, "dynamicResponseRegex", "invalid_regex"),
        ({"dynamicResponseRegex": "a" * 201}, "dynamicResponseRegex", "invalid_regex"),
        ({"webhook": {"status": {"url": HOOKS + "s"}}}, "webhook.status.secret", "required"),
        ({"webhook": {"status": {"url": "ftp://x", "secret": "s"}}}, "webhook.status.url",
         "invalid_url"),
        ({"acceptedResponses": [{"messages": ["ok"]}], "dynamicResponseRegex": None},
         "acceptedResponses[0].webhook", "required"),
        ({"acceptedResponses": [{"messages": [], "webhook": hook("yes")}]},
         "acceptedResponses[0].messages", "required"),
        ({"acceptedResponses": None, "dynamicResponseRegex": None}, "acceptedResponses",
         "required"),
        ({"webhook": {"status": hook("status")}}, "webhook.defaultInbound", "required"),
        ({"responseTimeout": 0}, "responseTimeout", "invalid_timeout"),
        ({"responseTimeout": "300"}, "responseTimeout", "invalid_timeout"),
        ({"context": [1]}, "context", "invalid_type"),
        ({"message": {"template": "nope"}}, "message.template", "unknown_template"),
        ({"message": {"template": "wa", "colour": 1}}, "message.colour", "unknown_field"),
        ({"message": None}, "message", "required"),
        ({"to": {"countryCode": "1", "number": "12"}}, "to.number", "invalid_recipient"),
        ({"provider": "nope"}, "provider", "unknown_provider"),
        ({"callback": {}}, "callback", "unknown_field"),
        ({"errorMessage": "Order {{orderId"}, "errorMessage", "template_syntax"),
        ({"errorMessage": "Order {{order}}?"}, "errorMessage", "missing_placeholder"),
    ],
)  # fmt: skip
def test_bad_requests_name_the_field_and_store_nothing(client, sandbox, templates, over, source,
                                                       code):  # fmt: skip
    r = client.post("/api/v1/messages/two-way", two_way(**over), format="json")
    assert_error(r, 400, source=source, code=code)
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_private_webhook_urls_are_refused_like_callback_urls(client, sandbox, templates, settings):
    settings.ALLOW_PRIVATE_URLS = False
    r = client.post("/api/v1/messages/two-way", two_way(), format="json")
    errors = assert_error(r, 400, source="webhook.status.url", code="private_url")
    assert "acceptedResponses[0].webhook.url" in [e["source"] for e in errors]
    assert not Message.objects.exists()


def test_the_secrets_are_encrypted_at_rest(start):
    start()
    row = Conversation.objects.values().get()
    assert not any(s in json.dumps(row, default=str) for s in SECRETS.values())


# --- a quick-reply button through Meta: matched by its payload ------------------------------


def test_a_meta_button_reply_matches_by_its_payload(client, anon_client, tenant, templates):
    meta = ProviderFactory(
        tenant=tenant, name="meta", provider_type="meta_whatsapp", channels=["whatsapp"],
        credentials=CREDS,
    )  # fmt: skip
    body = two_way(
        provider="meta",
        to={"countryCode": "1", "number": "6505551234"},
        acceptedResponses=[{"messages": ["CONFIRM"], "webhook": hook("yes")}],
        **{"from": "+15550783881"},  # Meta's display_phone_number of the envelope
    )
    body["message"].pop("buttons")
    r = client.post("/api/v1/messages/two-way", body, format="json")  # not dispatched
    assert r.status_code == 202, r.content
    # The template's quick reply: its text is what the user saw, its payload what we match.
    button = {
        "from": "16505551234", "id": "wamid.BTN1", "timestamp": "1750263773", "type": "button",
        "button": {"payload": "CONFIRM", "text": "Yes, deliver it"},
    }  # fmt: skip
    response = post_signed(anon_client, meta, "inbound", envelope({"messages": [button]}))
    assert response.status_code == 200
    conversation = Conversation.objects.get()
    assert conversation.state == "RESPONDED"
    assert conversation.events.get(kind="reply_matched").detail["match"]["response"] == "CONFIRM"
    delivery = CallbackDelivery.objects.get(event="conversation.reply")
    assert delivery.url == HOOKS + "yes"
    assert delivery.payload["reply"] == "Yes, deliver it"


@pytest.mark.parametrize(
    "provider_type, text, payload, expected",
    [
        ("meta_whatsapp", " Yes ", {}, ["Yes"]),
        ("meta_whatsapp", "Yes, deliver it", {"message": {"type": "button", "button": {
            "payload": "CONFIRM", "text": "Yes, deliver it"}}}, ["Yes, deliver it", "CONFIRM"]),
        ("meta_whatsapp", "Confirm", {"message": {"type": "interactive", "interactive": {
            "type": "button_reply", "button_reply": {"id": "c-1", "title": "Confirm"}}}},
         ["Confirm", "c-1"]),
        ("infobip", "Confirm", {"message": {"type": "BUTTON", "text": "Confirm", "payload": "C"}},
         ["Confirm", "C"]),  # Infobip
        ("infobip", "Confirm", {"message": {"type": "INTERACTIVE_BUTTON_REPLY", "id": "c-2",
                                 "title": "Confirm"}}, ["Confirm", "c-2"]),  # Infobip
        ("twilio", "Confirm", {"ButtonText": "Confirm", "ButtonPayload": "C3"},
         ["Confirm", "C3"]),
    ],
)  # fmt: skip
def test_what_a_reply_says_per_provider(provider_type, text, payload, expected):
    from conversations.services import reply_candidates

    provider = Provider(provider_type=provider_type)
    inbound = InboundMessage(text=text, payload=payload, provider=provider)
    assert reply_candidates(inbound) == expected
