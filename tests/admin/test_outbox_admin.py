"""The sandbox outbox: phone screens and a mailbox of what the sandbox "sent", a simulated
reply through the inbound webhook path, and nothing of another tenant's."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from core import status as st
from providers.models import InboundMessage, SandboxOutboxEntry

OUTBOX = "admin:providers_sandboxoutboxentry_changelist"
ANN = "+14155550100"


def entry(provider, *, to=ANN, channel="sms", body="", minutes_ago=0, **fields):
    e = SandboxOutboxEntry.objects.create(
        provider=provider, message_id=fields.pop("message_id", uuid.uuid4()),
        provider_message_id=f"sbx-{uuid.uuid4().hex}", channel=channel, to=to, body=body,
        **fields,
    )  # fmt: skip
    # created_at is auto_now_add: set the time the test needs afterwards.
    SandboxOutboxEntry.objects.filter(pk=e.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    e.refresh_from_db()
    return e


def conversation_url(provider, channel, to):
    url = reverse("admin:providers_sandboxoutboxentry_conversation", args=[provider.pk, channel])
    return f"{url}?{urlencode({'to': to})}"


def reply_url(provider, channel, to):
    url = reverse("admin:providers_sandboxoutboxentry_reply", args=[provider.pk, channel])
    return f"{url}?{urlencode({'to': to})}"


@pytest.fixture
def outbox(alpha, beta):
    p = alpha["provider"]
    return {
        "code": entry(p, sender="ALPHA", body="Your code is 342365", minutes_ago=10),
        "second": entry(p, sender="ALPHA", body="Your order has shipped", minutes_ago=5),
        "other_number": entry(
            p, to="+14155550177", sender="ALPHA", body="Hello Bob", minutes_ago=3
        ),
        "whatsapp": entry(
            p,
            channel="whatsapp",
            sender="Alpha Shop",
            body="Your parcel is here",
            payload={
                "buttons": [{"quickReply": {"value": "Confirm delivery"}}],
                "media": {"url": "https://example.com/r.pdf", "caption": "receipt.pdf"},
            },
        ),  # fmt: skip
        "email": entry(
            p,
            channel="email",
            to="ann@example.com",
            sender="shop@alpha.example",
            subject="Order o-1 is on its way",
            body="Dear Ann, it shipped.",
            html='<h1>Shipped</h1><script>alert("x")</script><img src="https://t.example/p.gif">',
            payload={"to": ["ann@example.com"], "cc": ["ops@alpha.example"], "bcc": []},
        ),  # fmt: skip
        "push": entry(p, channel="push", to="device-token-1", subject="Ready", body="Come by"),
        "beta": entry(beta["provider"], to="+14155550199", sender="BETA", body="beta secret"),
        "beta_email": entry(
            beta["provider"],
            channel="email",
            to="b@example.com",
            subject="Beta invoice",
            body="beta mail",
        ),  # fmt: skip
    }


def test_phones_list_one_conversation_per_recipient_and_channel(login, alpha_admin, outbox):
    html = login(alpha_admin).get(reverse(OUTBOX)).content.decode()
    assert html.count('class="omni-conv"') == 4  # Ann's SMS, Bob's SMS, WhatsApp, push
    assert "Your order has shipped" in html  # the last message is the snippet
    assert "Your code is 342365" not in html
    assert "2 messages" in html
    assert conversation_url(outbox["code"].provider, "sms", ANN).replace("&", "&amp;") in html
    assert "beta secret" not in html and "+14155550199" not in html
    assert "Order o-1 is on its way" not in html  # email lives in the mailbox


def test_mailbox_lists_subjects(login, alpha_admin, outbox):
    html = login(alpha_admin).get(reverse(OUTBOX), {"box": "mail"}).content.decode()
    assert "Order o-1 is on its way" in html
    assert reverse("admin:providers_sandboxoutboxentry_change", args=[outbox["email"].pk]) in html
    assert "Beta invoice" not in html
    assert "Your code is 342365" not in html


def test_search_by_number(login, alpha_admin, outbox):
    c = login(alpha_admin)
    html = c.get(reverse(OUTBOX), {"q": "415 555 0177"}).content.decode()
    assert "Hello Bob" in html
    assert "Your order has shipped" not in html


def test_conversation_is_the_recipients_screen(login, alpha_admin, outbox):
    provider = outbox["code"].provider
    html = login(alpha_admin).get(conversation_url(provider, "sms", ANN)).content.decode()
    assert 'id="phone-sender">ALPHA<' in html
    assert html.index("Your code is 342365") < html.index("Your order has shipped")
    assert "Hello Bob" not in html  # another number's conversation
    assert "Simulate a reply" in html


def test_conversation_shows_whatsapp_buttons_media_and_the_message_status(
    login, alpha_admin, alpha, outbox
):
    message = alpha["message"]
    message.status = st.DELIVERED_TO_HANDSET
    message.save()
    SandboxOutboxEntry.objects.filter(pk=outbox["whatsapp"].pk).update(message_id=message.pk)
    html = (
        login(alpha_admin)
        .get(conversation_url(alpha["provider"], "whatsapp", ANN))
        .content.decode()
    )
    assert 'id="phone-sender">Alpha Shop<' in html
    assert "Confirm delivery" in html
    assert "receipt.pdf" in html
    assert "Delivered to handset" in html
    assert reverse("admin:messaging_message_change", args=[message.pk]) in html


def test_simulated_reply_is_stored_as_inbound_and_shown_in_the_conversation(
    login, alpha_admin, alpha, outbox
):
    c = login(alpha_admin)
    provider = alpha["provider"]
    r = c.post(reply_url(provider, "sms", ANN), {"text": "STOP please"}, follow=True)
    assert r.status_code == 200
    stored = InboundMessage.objects.get()
    assert (stored.tenant, stored.provider, stored.channel) == (alpha["tenant"], provider, "sms")
    assert (stored.sender, stored.recipient, stored.text) == (ANN, "ALPHA", "STOP please")
    assert stored.provider_message_id.startswith("sim-")
    html = r.content.decode()
    assert "received through the inbound webhook" in html
    # Interleaved by time: after the messages it answers, as the recipient's own bubble.
    assert html.index("Your order has shipped") < html.index("STOP please")
    assert 'class="omni-bubble omni-in"' in html


def test_reply_from_another_number_stays_out_of_the_conversation(login, alpha_admin, outbox):
    c = login(alpha_admin)
    provider = outbox["code"].provider
    c.post(reply_url(provider, "sms", "+14155550177"), {"text": "Bob says hi"})
    assert InboundMessage.objects.filter(sender="+14155550177").count() == 1
    html = c.get(conversation_url(provider, "sms", ANN)).content.decode()
    assert "Bob says hi" not in html


def test_an_empty_reply_is_refused(login, alpha_admin, outbox):
    c = login(alpha_admin)
    r = c.post(reply_url(outbox["code"].provider, "sms", ANN), {"text": "  "}, follow=True)
    assert "Type the reply" in r.content.decode()
    assert not InboundMessage.objects.exists()


def test_push_has_no_reply(login, alpha_admin, alpha, outbox):
    c = login(alpha_admin)
    html = c.get(conversation_url(alpha["provider"], "push", "device-token-1")).content.decode()
    assert "Come by" in html and "Ready" in html
    assert "Simulate a reply" not in html
    r = c.post(reply_url(alpha["provider"], "push", "device-token-1"), {"text": "hi"})
    assert r.status_code == 404
    assert not InboundMessage.objects.exists()


def test_email_shows_headers_and_html_in_a_sandboxed_frame(login, alpha_admin, outbox):
    url = reverse("admin:providers_sandboxoutboxentry_change", args=[outbox["email"].pk])
    html = login(alpha_admin).get(url).content.decode()
    headers = html[html.index('id="email-headers"') : html.index("</dl>")]
    assert "shop@alpha.example" in headers and "ann@example.com" in headers
    assert "ops@alpha.example" in headers and "Order o-1 is on its way" in headers
    frame = html[html.index('<iframe class="omni-email-html"') :]
    frame = frame[: frame.index("</iframe>")]
    assert 'sandbox=""' in frame
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in frame  # inert, in srcdoc
    assert "Content-Security-Policy" in frame and "default-src &#x27;none&#x27;" in frame
    assert '<script>alert("x")' not in html
    assert "Dear Ann, it shipped." in html


def test_a_phone_entry_opens_its_conversation(login, alpha_admin, outbox):
    url = reverse("admin:providers_sandboxoutboxentry_change", args=[outbox["code"].pk])
    r = login(alpha_admin).get(url)
    assert r.status_code == 302
    assert r["Location"].endswith(f"#entry-{outbox['code'].pk}")
    assert "conversation" in r["Location"]


def test_another_tenants_outbox_is_404(login, alpha_admin, beta, outbox):
    c = login(alpha_admin)
    beta_provider = beta["provider"]
    assert c.get(conversation_url(beta_provider, "sms", "+14155550199")).status_code == 404
    change = reverse("admin:providers_sandboxoutboxentry_change", args=[outbox["beta_email"].pk])
    assert c.get(change).status_code == 404
    r = c.post(reply_url(beta_provider, "sms", "+14155550199"), {"text": "hijack"})
    assert r.status_code == 404
    assert not InboundMessage.objects.exists()
    assert c.get(reverse(OUTBOX), {"provider": beta_provider.pk}).status_code == 404


def test_outbox_is_for_tenant_admins_only(login, alpha_support, alpha_developer, alpha, outbox):
    for user in (alpha_support, alpha_developer):
        c = login(user)
        assert c.get(reverse(OUTBOX)).status_code == 403
        assert c.get(conversation_url(alpha["provider"], "sms", ANN)).status_code == 403
        assert c.post(reply_url(alpha["provider"], "sms", ANN), {"text": "x"}).status_code == 403
    assert not InboundMessage.objects.exists()


def test_superuser_sees_every_tenants_outbox(client, django_user_model, outbox):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    html = client.get(reverse(OUTBOX)).content.decode()
    assert "beta secret" in html and "Your order has shipped" in html
    assert "(Beta)" in html  # the tenant is named where tenants are mixed
