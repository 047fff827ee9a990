"""AWS End User Messaging SMS: SendTextMessage through a Stubber-wrapped boto3 client (never the
network), ClientErrors mapped by the table, and delivery events by a signature-verified SNS
HTTPS subscription (a certificate made here, served at an SNS host by `responses`)."""

import base64
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import responses
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from core import status as st
from messaging.models import Message
from providers import sns
from providers.backends import OutboundMessage, SendError
from providers.backends.aws_sms import AwsSmsBackend
from providers.models import InboundMessage
from tests.factories import ProviderFactory

CREDS = {
    "accessKeyId": "AKIAEXAMPLE",
    "secretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "region": "us-east-1",
    "originationIdentity": "+18885550100",
}
AWS_ID = "862a8790-60c0-4430-9b2b-658bdexample"
TOPIC = "arn:aws:sns:us-east-1:123456789012:sms-events"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc123.pem"
SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
    + TOPIC
    + "&Token=2336412f37"
)


# --- a certificate of our own, standing in for SNS's -----------------------------------------
def make_cert(days_valid=365, start=-1):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=start))
        .not_valid_after(now + timedelta(days=start + days_valid))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


KEY, CERT_PEM = make_cert()


@pytest.fixture(autouse=True)
def fresh_certificates():
    sns.clear_certificate_cache()
    yield
    sns.clear_certificate_cache()


def canonical(message):
    """The string SNS signs, written out independently of providers/sns.py."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode()


def signed(message, version="1", key=KEY, cert_url=CERT_URL):
    message = {**message, "SignatureVersion": version, "SigningCertURL": cert_url}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(canonical(message), padding.PKCS1v15(), algorithm)
    return {**message, "Signature": base64.b64encode(signature).decode()}


def notification(event, message_id="22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", **extra):
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Message": json.dumps(event),
        "Timestamp": "2026-11-25T12:00:00.000Z",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        **extra,
    }


def sms_event(event_type, message_id=AWS_ID, is_final=True, **extra):
    return {
        "eventType": event_type,
        "eventVersion": "1.0",
        "eventTimestamp": 1686975103470,
        "isFinal": is_final,
        "originationPhoneNumber": "+18885550100",
        "destinationPhoneNumber": "+14255550156",
        "isInternationalSend": False,
        "mcc": "310",
        "mnc": "800",
        "messageId": message_id,
        "messageRequestTimestamp": 1686975103170,
        "messageEncoding": "GSM",
        "messageType": "TRANSACTIONAL",
        "messageStatus": event_type.removeprefix("TEXT_"),
        "messageStatusDescription": f"Description of {event_type}",
        "context": {"messageId": "ours"},
        "totalMessageParts": 1,
        "totalMessagePrice": 0.00581,
        "totalCarrierFee": 0.0,
        **extra,
    }


SUBSCRIPTION = {
    "Type": "SubscriptionConfirmation",
    "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    "Token": "2336412f37",
    "TopicArn": TOPIC,
    "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
    "SubscribeURL": SUBSCRIBE_URL,
    "Timestamp": "2026-11-25T12:00:00.000Z",
}


# --- sending -------------------------------------------------------------------------------
@pytest.fixture
def stub(monkeypatch):
    """A real pinpoint-sms-voice-v2 client with a Stubber: unexpected calls fail the test."""
    client = boto3.client(
        "pinpoint-sms-voice-v2",
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="secret",
    )
    stubber = Stubber(client)
    monkeypatch.setattr(AwsSmsBackend, "client", lambda self: client)
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


def sms(body="Your code is 342365", sender="", to="+14255550156"):
    return OutboundMessage(id="m-1", channel="sms", to=to, body=body, sender=sender)


def expected(**overrides):
    return {
        "DestinationPhoneNumber": "+14255550156",
        "OriginationIdentity": "+18885550100",
        "MessageBody": "Your code is 342365",
        "MessageType": "TRANSACTIONAL",
        "Context": {"messageId": "m-1"},
        **overrides,
    }


OUR_ID = "6f1c1d3e-0000-4000-8000-000000000001"


def test_event_context_message_id_is_our_message_ref():
    from providers.backends.aws_sms import _report

    event = sms_event("TEXT_DELIVERED", context={"messageId": OUR_ID})
    report = _report(event, sns_message_id="sns-1")
    assert (report.provider_message_id, report.message_ref) == (AWS_ID, OUR_ID)
    # Not ours (a send made elsewhere), or no context at all: no reference.
    assert _report(sms_event("TEXT_DELIVERED"), sns_message_id="s").message_ref == ""
    event = sms_event("TEXT_DELIVERED")
    event.pop("context")
    assert _report(event, sns_message_id="s").message_ref == ""


def test_aws_has_no_lookup():
    assert not AwsSmsBackend.can_lookup()


def test_send_calls_send_text_message(stub):
    stub.add_response("send_text_message", {"MessageId": AWS_ID}, expected())
    result = AwsSmsBackend(CREDS).send(sms())
    assert (result.provider_message_id, result.status) == (AWS_ID, st.PENDING_ENROUTE)
    assert result.raw == {"MessageId": AWS_ID}


def test_configuration_set_is_passed_when_given(stub):
    stub.add_response(
        "send_text_message",
        {"MessageId": AWS_ID},
        expected(ConfigurationSetName="sms-events"),
    )
    AwsSmsBackend({**CREDS, "configurationSetName": "sms-events"}).send(sms())


@pytest.mark.parametrize(
    ("sender", "default_sender", "origination"),
    [
        ("+18005550199", "pool-default", "+18005550199"),  # request or template
        ("", "pool-default", "pool-default"),  # the provider's defaultSender
        ("", "", "+18885550100"),  # the credential
    ],
)
def test_origination_identity_precedence(stub, sender, default_sender, origination):
    stub.add_response(
        "send_text_message", {"MessageId": AWS_ID}, expected(OriginationIdentity=origination)
    )
    backend = AwsSmsBackend(CREDS, default_sender=default_sender)
    backend.send(sms(sender=sender))
    assert backend.sender_for(sms(sender=sender)) == origination


@pytest.mark.parametrize(
    ("code", "http", "reason", "permanent", "status", "retry_after"),
    [
        # Per-second throughput: dispatch's backoff decides when (no fixed retry_after).
        ("ThrottlingException", 400, None, False, st.REJECTED_PROVIDER, None),
        # ServiceQuotaExceededException's Reason enum (botocore pinpoint-sms-voice-v2
        # service-2.json, ServiceQuotaExceededExceptionReason): a monthly spend limit stays
        # until raised, a daily one lifts within the day, the rest are not sending quotas.
        ("ServiceQuotaExceededException", 400, "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT", True,
         st.REJECTED_PROVIDER, None),
        ("ServiceQuotaExceededException", 400, "DAILY_NOTIFY_TIER_MESSAGE_LIMIT", False,
         st.REJECTED_PROVIDER, 3600),
        ("ServiceQuotaExceededException", 400, "PHONE_NUMBERS_PER_ACCOUNT", True,
         st.REJECTED_PROVIDER, None),
        ("ServiceQuotaExceededException", 400, None, True, st.REJECTED_PROVIDER, None),
        ("InternalServerException", 500, None, False, st.REJECTED_PROVIDER, 10),
        ("ValidationException", 400, "INVALID_PARAMETER", True, st.REJECTED_PROVIDER, None),
        ("ValidationException", 400, "DESTINATION_COUNTRY_BLOCKED", True,
         st.REJECTED_DESTINATION, None),
        ("ValidationException", 400, "MAXIMUM_SIZE_EXCEEDED", True, st.REJECTED_CONTENT, None),
        ("ConflictException", 409, "DESTINATION_PHONE_NUMBER_OPTED_OUT", True,
         st.REJECTED_DESTINATION, None),
        ("ResourceNotFoundException", 404, None, True, st.REJECTED_PROVIDER, None),
        ("AccessDeniedException", 403, "ACCOUNT_DISABLED", True, st.REJECTED_PROVIDER, None),
        ("SomethingNewException", 503, None, False, st.REJECTED_PROVIDER, None),
        ("SomethingElseException", 400, None, True, st.REJECTED_PROVIDER, None),
    ],
)  # fmt: skip
def test_client_errors_are_mapped_by_the_table(
    stub, code, http, reason, permanent, status, retry_after
):
    stub.add_client_error(
        "send_text_message",
        service_error_code=code,
        service_message=f"{code} happened",
        http_status_code=http,
        modeled_fields={"Reason": reason} if reason else None,
        expected_params=expected(),
    )
    with pytest.raises(SendError) as err:
        AwsSmsBackend(CREDS).send(sms())
    got = err.value
    assert (got.code, got.permanent, got.status, got.retry_after) == (
        code,
        permanent,
        status,
        retry_after,
    )
    assert f"{code} happened" in got.description
    if reason:
        assert reason in got.description
    assert got.raw["Error"]["Code"] == code


def test_a_connection_failure_is_transient(monkeypatch):
    class Down:
        def send_text_message(self, **kwargs):
            raise EndpointConnectionError(endpoint_url="https://sms-voice.us-east-1.amazonaws.com")

    monkeypatch.setattr(AwsSmsBackend, "client", lambda self: Down())
    with pytest.raises(SendError) as err:
        AwsSmsBackend(CREDS).send(sms())
    assert (err.value.code, err.value.permanent) == ("NETWORK_ERROR", False)


def test_client_is_built_from_the_credentials_and_reused():
    a = AwsSmsBackend({**CREDS, "region": "eu-west-1"}).client()
    assert a.meta.region_name == "eu-west-1"
    assert a.meta.endpoint_url == "https://sms-voice.eu-west-1.amazonaws.com"
    assert AwsSmsBackend({**CREDS, "region": "eu-west-1"}).client() is a
    b = AwsSmsBackend({**CREDS, "apiBaseUrl": "http://127.0.0.1:9999"}).client()
    assert b.meta.endpoint_url == "http://127.0.0.1:9999"
    assert b is not a


def test_test_connection(stub):
    stub.add_response(
        "describe_account_attributes",
        {"AccountAttributes": [{"Name": "ACCOUNT_TIER", "Value": "PRODUCTION"}]},
        {},
    )
    assert AwsSmsBackend(CREDS).test_connection() == (
        "AWS End User Messaging SMS in us-east-1: ACCOUNT_TIER=PRODUCTION"
    )


def test_credentials_are_validated():
    from providers.backends import CredentialsInvalid

    with pytest.raises(CredentialsInvalid) as err:
        AwsSmsBackend.clean_credentials({"accessKeyId": "x"})
    assert set(err.value.errors) == {"secretAccessKey", "region", "originationIdentity"}


# --- SNS webhooks ----------------------------------------------------------------------------
@pytest.fixture
def aws(tenant):
    return ProviderFactory(
        tenant=tenant,
        name="aws",
        provider_type="aws_sms",
        channels=["sms"],
        credentials=CREDS,
    )


@pytest.fixture
def cert_server():
    """The certificate at its SNS address; any other outgoing call fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(CERT_URL, body=CERT_PEM)
        yield rsps


def post_sns(anon_client, provider, message, kind="status"):
    return anon_client.generic(
        "POST",
        f"/webhooks/providers/{provider.webhook_token}/{kind}",
        json.dumps(message),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=message.get("Type", ""),
        HTTP_X_AMZ_SNS_TOPIC_ARN=TOPIC,
    )


@pytest.mark.parametrize("version", ["1", "2"])
def test_subscription_is_confirmed_once_verified(anon_client, aws, cert_server, version):
    confirm = cert_server.get(SUBSCRIBE_URL, body="<ConfirmSubscriptionResponse/>")
    r = post_sns(anon_client, aws, signed(SUBSCRIPTION, version))
    assert r.status_code == 200, r.content
    assert confirm.call_count == 1


@pytest.mark.parametrize(
    ("tamper", "detail"),
    [
        (lambda m: {**m, "Token": "other"}, "does not match"),
        (lambda m: {**m, "Signature": base64.b64encode(b"x" * 256).decode()}, "does not match"),
        (lambda m: {k: v for k, v in m.items() if k != "Signature"}, "not signed"),
        (lambda m: {**m, "SignatureVersion": "3"}, "SignatureVersion"),
    ],
)
def test_a_bad_signature_is_refused_and_nothing_confirmed(
    anon_client, aws, cert_server, tamper, detail
):
    confirm = cert_server.get(SUBSCRIBE_URL)
    r = post_sns(anon_client, aws, tamper(signed(SUBSCRIPTION)))
    assert r.status_code == 403
    assert detail in r.json()["errors"][0]["detail"]
    assert confirm.call_count == 0


def test_signed_by_another_key_is_refused(anon_client, aws, cert_server):
    other_key, _ = make_cert()
    r = post_sns(
        anon_client, aws, signed(notification(sms_event("TEXT_DELIVERED")), "2", other_key)
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://evil.example.com/SimpleNotificationService-abc123.pem",
        "https://sns.us-east-1.amazonaws.com.evil.com/cert.pem",
        "https://sns.us-east-1.amazonaws.evil.com/cert.pem",
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc123.pem",
        "https://foo.sns.us-east-1.amazonaws.com/cert.pem",
    ],
)
def test_a_certificate_off_the_sns_hosts_is_never_fetched(anon_client, aws, cert_url):
    message = signed(notification(sms_event("TEXT_DELIVERED")), cert_url=cert_url)
    with responses.RequestsMock() as rsps:  # no call may leave
        r = post_sns(anon_client, aws, message)
        assert len(rsps.calls) == 0
    assert r.status_code == 403
    assert "not an https Amazon SNS address" in r.json()["errors"][0]["detail"]


def test_china_sns_host_is_accepted():
    assert sns.is_sns_url("https://sns.cn-north-1.amazonaws.com.cn/cert.pem")


def test_an_expired_certificate_is_refused(anon_client, aws):
    key, pem = make_cert(days_valid=10, start=-20)
    with responses.RequestsMock() as rsps:
        rsps.get(CERT_URL, body=pem)
        r = post_sns(anon_client, aws, signed(notification(sms_event("TEXT_DELIVERED")), key=key))
    assert r.status_code == 403
    assert "not valid now" in r.json()["errors"][0]["detail"]


def test_the_certificate_is_fetched_once(anon_client, aws, cert_server):
    for i in range(3):
        r = post_sns(anon_client, aws, signed(notification(sms_event("TEXT_QUEUED"), f"id-{i}")))
        assert r.status_code == 200, r.content
    assert len([c for c in cert_server.calls if c.request.url == CERT_URL]) == 1


def test_a_subject_is_part_of_the_signed_string(anon_client, aws, cert_server):
    message = signed(notification(sms_event("TEXT_QUEUED"), Subject="SMS event"))
    assert post_sns(anon_client, aws, message).status_code == 200
    assert post_sns(anon_client, aws, {**message, "Subject": "Changed"}).status_code == 403


def test_unexpected_topic_is_refused_when_one_is_configured(anon_client, tenant, cert_server):
    provider = ProviderFactory(
        tenant=tenant,
        name="aws-topic",
        provider_type="aws_sms",
        channels=["sms"],
        credentials={**CREDS, "snsTopicArn": "arn:aws:sns:us-east-1:123456789012:other"},
    )
    r = post_sns(anon_client, provider, signed(notification(sms_event("TEXT_DELIVERED"))))
    assert r.status_code == 403
    assert "topic" in r.json()["errors"][0]["detail"]


@pytest.fixture
def sent(aws, client, run_tasks, stub):
    stub.add_response(
        "send_text_message",
        {"MessageId": AWS_ID},
        {
            "DestinationPhoneNumber": "+14255550156",
            "OriginationIdentity": "+18885550100",
            "MessageBody": "Your code is 342365",
            "MessageType": "TRANSACTIONAL",
            "Context": {"messageId": stub_any_id()},
            "TimeToLive": stub_any_id(),  # the request's validity: exact values tested below
        },
    )
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Your code is 342365", "provider": "aws", "to": ["+14255550156"]}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    m = Message.objects.get(pk=r.json()["messages"][0]["messageId"])
    assert (m.status, m.provider_message_id) == (st.PENDING_ENROUTE, AWS_ID)
    return m


def stub_any_id():
    from botocore.stub import ANY

    return ANY


def test_end_to_end_delivered_by_an_sns_event(
    anon_client, client, sent, aws, cert_server, run_tasks
):
    for event, expected_status in [
        ("TEXT_SUCCESSFUL", st.DELIVERED_TO_OPERATOR),
        ("TEXT_DELIVERED", st.DELIVERED_TO_HANDSET),
    ]:
        message = signed(notification(sms_event(event), f"sns-{event}"), "2")
        r = run_tasks(post_sns, anon_client, aws, message)
        assert r.status_code == 200, r.content
        sent.refresh_from_db()
        assert sent.status == expected_status
    got = client.get(f"/api/v1/messages/{sent.id}").json()
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"


@pytest.mark.parametrize(
    ("event", "is_final", "expected_status"),
    [
        ("TEXT_BLOCKED", True, st.UNDELIVERABLE_REJECTED_OPERATOR),
        ("TEXT_INVALID", True, st.REJECTED_DESTINATION),
        ("TEXT_INVALID_MESSAGE", True, st.REJECTED_CONTENT),
        ("TEXT_TTL_EXPIRED", True, st.EXPIRED_EXPIRED),
        ("TEXT_CARRIER_UNREACHABLE", False, st.PENDING_ENROUTE),  # AWS still retries
        ("TEXT_SPAM", True, st.UNDELIVERABLE_REJECTED_OPERATOR),
        # No carrier receipt in 72 hours: it may have arrived, so never sent again.
        ("TEXT_UNKNOWN", True, st.UNDELIVERABLE_NOT_DELIVERED),
        ("TEXT_PROTECT_BLOCKED", True, st.REJECTED_PROVIDER),
    ],
)
def test_failure_events_are_mapped(
    anon_client, client, sent, aws, cert_server, run_tasks, event, is_final, expected_status
):
    if event == "TEXT_TTL_EXPIRED":
        # TimeToLive is the validity we had left (under AWS's 72 h cap): when it passes at
        # AWS, ours has passed too. (A provider expiry while ours runs gets another attempt.)
        from django.utils import timezone

        from messaging.models import Message

        Message.objects.filter(pk=sent.pk).update(expires_at=timezone.now())
    message = signed(notification(sms_event(event, is_final=is_final)))
    r = run_tasks(post_sns, anon_client, aws, message)
    assert r.status_code == 200, r.content
    got = client.get(f"/api/v1/messages/{sent.id}").json()
    assert got["status"]["name"] == expected_status
    if expected_status != st.PENDING_ENROUTE:
        assert got["error"]["code"] == event
        assert got["error"]["description"] == f"Description of {event}"


def test_two_way_reply_is_stored(anon_client, aws, cert_server):
    reply = {
        "originationNumber": "+14255550182",
        "destinationNumber": "+12125550101",
        "messageKeyword": "JOIN",
        "messageBody": "EXAMPLE",
        "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
        "previousPublishedMessageId": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    }
    for _ in range(2):  # SNS redelivers: stored once
        r = post_sns(anon_client, aws, signed(notification(reply)), kind="inbound")
        assert r.status_code == 200, r.content
    [m] = InboundMessage.objects.all()
    assert (m.channel, m.sender, m.recipient, m.text, m.provider_message_id) == (
        "sms",
        "+14255550182",
        "+12125550101",
        "EXAMPLE",
        "cae173d2-66b9-564c-8309-21f858e9fb84",
    )


def test_unsubscribe_confirmation_is_acknowledged_without_resubscribing(
    anon_client, aws, cert_server
):
    message = signed({**SUBSCRIPTION, "Type": "UnsubscribeConfirmation"})
    r = post_sns(anon_client, aws, message)
    assert r.status_code == 200
    assert all(c.request.url == CERT_URL for c in cert_server.calls)


@pytest.mark.parametrize("body", ["{nope", '"text"', "[]"])
def test_garbage_is_refused(anon_client, aws, body):
    r = anon_client.generic(
        "POST", f"/webhooks/providers/{aws.webhook_token}/status", body, content_type="text/plain"
    )
    assert r.status_code == 400


def test_register_through_the_api(client, tenant):
    r = client.post(
        "/api/v1/providers",
        {"name": "aws", "providerType": "aws_sms", "credentials": CREDS, "isActive": True,
         "isTenantDefault": False},
        format="json",
    )  # fmt: skip
    assert r.status_code == 201, r.content
    assert r.json()["data"]["channels"] == ["sms"]


# --- validity, priority, content ---------------------------------------------------------------


def expiring(seconds, **kw):
    message = sms(**kw)
    message.expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
    return message


@pytest.mark.parametrize(
    ("left", "ttl"),
    [
        # SendTextMessage's TimeToLive: integer seconds, min 5, max 259200 (botocore's
        # pinpoint-sms-voice-v2 service-2.json, shape TimeToLive).
        (7 * 24 * 3600, 259200),  # a week of validity: capped at AWS's 72 hours
        (2, 5),  # raised to AWS's minimum
    ],
)
def test_validity_travels_as_time_to_live_capped(stub, left, ttl):
    stub.add_response("send_text_message", {"MessageId": AWS_ID}, expected(TimeToLive=ttl))
    AwsSmsBackend(CREDS).send(expiring(left))


def test_validity_in_between_is_the_seconds_left(stub):
    stub.add_response("send_text_message", {"MessageId": AWS_ID}, expected(TimeToLive=ANY))
    params = AwsSmsBackend(CREDS).request_for(expiring(3600))
    assert 3595 <= params["TimeToLive"] <= 3600
    AwsSmsBackend(CREDS).send(expiring(3600))


@pytest.mark.parametrize("priority", ["high", "normal", "low"])
def test_priority_does_not_change_the_message_type(stub, priority):
    # MessageType is a regulatory class (TRANSACTIONAL / PROMOTIONAL), not an urgency.
    stub.add_response("send_text_message", {"MessageId": AWS_ID}, expected())
    message = sms()
    message.priority = priority
    AwsSmsBackend(CREDS).send(message)


def test_validity_of_the_request_reaches_aws_through_the_api(aws, client, run_tasks, stub):
    # validity in minutes (API.md): a week, capped at TimeToLive's 259200.
    stub.add_response(
        "send_text_message",
        {"MessageId": AWS_ID},
        {**expected(TimeToLive=259200), "Context": {"messageId": ANY}},
    )
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"body": "Your code is 342365", "provider": "aws", "to": ["+14255550156"]}],
         "validity": 10080},
        format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content


@pytest.mark.parametrize(
    ("extra", "source"),
    [
        ({"media": {"image": {"url": "https://cdn.example.com/a.png"}}}, "media.image"),
        ({"media": {"document": {"url": "https://cdn.example.com/a.pdf", "filename": "a.pdf"}}},
         "media.document"),
        ({"media": {"location": {"latitude": 52.5, "longitude": 13.4}}}, "media.location"),
        ({"buttons": ["Yes", "No"]}, "buttons"),
        ({"providerTemplate": {"name": "otp", "params": ["1"]}}, "providerTemplate"),
    ],
)  # fmt: skip
def test_sms_carries_text_only(aws, client, extra, source):
    from tests.helpers import assert_error

    body = {"sms": [{"body": "hi", "provider": "aws", "to": ["+14255550156"], **extra}]}
    r = client.post("/api/v1/messages", body, format="json")
    assert_error(r, 400, source=f"sms[0].{source}", code="unsupported_content")
    assert not Message.objects.exists()


def test_a_transient_event_is_retried_and_a_permanent_one_is_final(
    anon_client, client, sent, aws, cert_server, run_tasks
):
    # A final TEXT_UNREACHABLE (the handset was off until AWS gave up) may pass: retried.
    message = signed(notification(sms_event("TEXT_UNREACHABLE"), "sns-unreachable"))
    r = run_tasks(post_sns, anon_client, aws, message)
    assert r.status_code == 200, r.content
    sent.refresh_from_db()
    assert sent.status == st.PENDING_WAITING_RETRY
    assert sent.error_code == "TEXT_UNREACHABLE" and sent.error_permanent is False


def test_a_permanent_event_is_final(anon_client, client, sent, aws, cert_server, run_tasks):
    message = signed(notification(sms_event("TEXT_BLOCKED"), "sns-blocked"))
    run_tasks(post_sns, anon_client, aws, message)
    sent.refresh_from_db()
    assert sent.status == st.UNDELIVERABLE_REJECTED_OPERATOR
    assert sent.error_permanent is True


def test_event_permanence():
    from providers.backends.aws_sms import _report

    for event, permanent in [("TEXT_CARRIER_UNREACHABLE", False), ("TEXT_UNREACHABLE", False),
                             ("TEXT_UNKNOWN", True), ("TEXT_SPAM", True)]:  # fmt: skip
        assert _report(sms_event(event), sns_message_id="s").permanent is permanent
