"""Reports that are about one part of a message, one address of several, or the recipient's
answer: a split message is delivered when every part is, a cc bounce does not fail an email,
a complaint is recorded without moving the status."""

import pytest

from core import status as st
from messaging.models import Message, MessagePart
from messaging.services.status import message_reports_apply
from providers.backends import StatusReport
from providers.backends.sandbox import SandboxBackend
from tests.messaging.test_status import sent

pytestmark = pytest.mark.django_db


@pytest.fixture
def split_sends(monkeypatch):
    """The sandbox splits each message into three parts and reports them one by one."""
    real_send = SandboxBackend.send

    def send(self, message):
        result = real_send(self, message)
        result.follow_up_report = None
        first = result.provider_message_id
        result.part_ids = (first, first + "-2", first + "-3")
        return result

    monkeypatch.setattr(SandboxBackend, "send", send)
    monkeypatch.setattr(SandboxBackend, "reports_parts", True, raising=False)


def parts_of(message):
    return list(MessagePart.objects.filter(message=message).values_list("number", "status"))


def test_a_split_message_is_delivered_when_every_part_is(client, sandbox, run_tasks, split_sends):
    m = sent(client, run_tasks)
    first = m.provider_message_id
    assert parts_of(m) == [
        (1, st.PENDING_ENROUTE),
        (2, st.PENDING_ENROUTE),
        (3, st.PENDING_ENROUTE),
    ]
    for ref in (first, first + "-3"):
        message_reports_apply(
            provider=sandbox, reports=[StatusReport(ref, st.DELIVERED_TO_HANDSET)]
        )
    m.refresh_from_db()
    assert m.status == st.PENDING_ENROUTE  # part 2 not reported yet
    message_reports_apply(
        provider=sandbox, reports=[StatusReport(first + "-2", st.DELIVERED_TO_HANDSET)]
    )
    m.refresh_from_db()
    assert m.status == st.DELIVERED_TO_HANDSET
    last = m.events.order_by("-created_at", "-id").first()
    assert last.description.startswith("Part 2: ")
    assert [s for _, s in parts_of(m)] == [st.DELIVERED_TO_HANDSET] * 3


def test_a_split_message_fails_when_one_part_fails(client, sandbox, run_tasks, split_sends):
    m = sent(client, run_tasks)
    first = m.provider_message_id
    message_reports_apply(provider=sandbox, reports=[StatusReport(first, st.DELIVERED_TO_HANDSET)])
    failed = StatusReport(first + "-3", st.UNDELIVERABLE_NOT_DELIVERED, error_code="5")
    message_reports_apply(provider=sandbox, reports=[failed])
    m.refresh_from_db()
    assert (m.status, m.error_code) == (st.UNDELIVERABLE_NOT_DELIVERED, "5")
    # A later delivery of the other part does not undo the failure.
    message_reports_apply(
        provider=sandbox, reports=[StatusReport(first + "-2", st.DELIVERED_TO_HANDSET)]
    )
    m.refresh_from_db()
    assert m.status == st.UNDELIVERABLE_NOT_DELIVERED


def email_sent(client, run_tasks):
    body = {"email": [{"body": "hi", "subject": "s", "to": ["ann@example.com"],
                       "cc": ["bob@example.com"]}]}  # fmt: skip
    r = run_tasks(client.post, "/api/v1/messages", body, format="json")
    assert r.status_code == 202, r.content
    return Message.objects.get(pk=r.json()["messages"][0]["messageId"])


def test_a_cc_bounce_is_noted_and_the_email_goes_on(client, sandbox, run_tasks, no_sandbox_report):
    m = email_sent(client, run_tasks)
    bounce = StatusReport(
        m.provider_message_id, st.UNDELIVERABLE_NOT_DELIVERED,
        error_description="mailbox full", recipient="Bob@example.com",
    )  # fmt: skip
    message_reports_apply(provider=sandbox, reports=[bounce])
    m.refresh_from_db()
    assert m.status == st.PENDING_ENROUTE
    note = m.events.order_by("-created_at", "-id").first()
    assert note.description == "Not delivered to Bob@example.com: mailbox full"
    primary = StatusReport(m.provider_message_id, st.UNDELIVERABLE_NOT_DELIVERED,
                           recipient="ann@example.com")  # fmt: skip
    message_reports_apply(provider=sandbox, reports=[primary])
    m.refresh_from_db()
    assert m.status == st.UNDELIVERABLE_NOT_DELIVERED


def test_a_complaint_is_recorded_and_the_status_stays(client, sandbox, run_tasks):
    m = email_sent(client, run_tasks)
    assert m.status == st.DELIVERED_TO_HANDSET
    complaint = StatusReport(m.provider_message_id, st.DELIVERED_TO_HANDSET, feedback="complained")
    assert message_reports_apply(provider=sandbox, reports=[complaint]) == 1
    m.refresh_from_db()
    assert m.status == st.DELIVERED_TO_HANDSET
    got = client.get(f"/api/v1/messages/{m.id}").json()
    assert got["events"][-1]["description"] == "The recipient marked it as spam."
