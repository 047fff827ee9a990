"""/api/v1/templates: create, list, change, delete and preview."""

import pytest
from rest_framework.test import APIClient

from messaging.models import Message, Template
from tests.factories import AppFactory, TemplateFactory, TenantFactory, issue_key
from tests.helpers import assert_error, counts

URL = "/api/v1/templates"
SMS = {"name": "otp", "mode": "sms", "data": {"body": "Your code is {{otp}}"}, "tags": ["auth"]}
EMAIL = {
    "name": "order",
    "mode": "email",
    "data": {"subject": "Order {{orderId}}", "body": "<p>Hi {{name}}</p>", "format": "text/html"},
    "isActive": True,
}


@pytest.fixture
def theirs(db):
    """A template of another tenant, named like one of ours would be."""
    return TemplateFactory(tenant=TenantFactory(slug="globex"), name="secret")


# --- create -----------------------------------------------------------------------------------


def test_create(client, tenant):
    r = client.post(URL, SMS, format="json")
    assert r.status_code == 201, r.content
    data = r.json()["data"]
    assert data["name"] == "otp" and data["mode"] == "sms" and data["isActive"] is True
    assert data["data"] == SMS["data"] and data["tags"] == ["auth"]
    t = Template.objects.get()
    assert t.tenant == tenant and t.data == SMS["data"]


def test_create_email(client, tenant):
    r = client.post(URL, EMAIL, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["data"]["data"]["format"] == "text/html"


def test_same_name_in_another_tenant_is_fine(client, theirs):
    assert client.post(URL, {**SMS, "name": "secret"}, format="json").status_code == 201


BAD = {
    "duplicate name": ({**SMS, "name": "taken"}, 409, "name"),
    "no name": ({k: v for k, v in SMS.items() if k != "name"}, 400, "name"),
    "name with slash": ({**SMS, "name": "a/b"}, 400, "name"),
    "name too long": ({**SMS, "name": "n" * 101}, 400, "name"),
    "name not a string": ({**SMS, "name": 5}, 400, "name"),
    "unknown mode": ({**SMS, "mode": "telegram"}, 400, "mode"),
    "no mode": ({"name": "x", "data": {"body": "b"}}, 400, "mode"),
    "no data": ({"name": "x", "mode": "sms"}, 400, "data"),
    "data not an object": ({**SMS, "data": "body"}, 400, "data"),
    "no body": ({**SMS, "data": {"from": "X"}}, 400, "data.body"),
    "blank body": ({**SMS, "data": {"body": "  "}}, 400, "data.body"),
    "body not a string": ({**SMS, "data": {"body": ["x"]}}, 400, "data.body"),
    "body does not parse": ({**SMS, "data": {"body": "Code {{otp"}}, 400, "data.body"),
    "nested placeholder": ({**SMS, "data": {"body": "{{a {{b}} }}"}}, 400, "data.body"),
    "stray closing braces": ({**SMS, "data": {"body": "a }} b"}}, 400, "data.body"),
    "subject does not parse": (
        {**EMAIL, "data": {**EMAIL["data"], "subject": "Order {{}}"}},
        400,
        "data.subject",
    ),
    "email without subject": ({**EMAIL, "data": {"body": "hi"}}, 400, "data.subject"),
    "bad format": ({**EMAIL, "data": {**EMAIL["data"], "format": "rtf"}}, 400, "data.format"),
    "unknown data field": ({**SMS, "data": {"body": "b", "colour": "red"}}, 400, "data.colour"),
    "media not an object": ({**SMS, "data": {"body": "b", "media": "x"}}, 400, "data.media"),
    "buttons not a list": ({**SMS, "data": {"body": "b", "buttons": {}}}, 400, "data.buttons"),
    "isActive not a bool": ({**SMS, "isActive": "yes"}, 400, "isActive"),
    "tags not strings": ({**SMS, "tags": [1]}, 400, "tags"),
    "tags not a list": ({**SMS, "tags": "auth"}, 400, "tags"),
    "unknown field": ({**SMS, "colour": "red"}, 400, "colour"),
    "body not an object": (["otp"], 400, None),
}


@pytest.mark.parametrize(("body", "status", "source"), BAD.values(), ids=BAD.keys())
def test_bad_create(client, tenant, body, status, source):
    TemplateFactory(tenant=tenant, name="taken")
    before = counts()
    assert_error(client.post(URL, body, format="json"), status, source=source)
    assert counts() == before


def test_syntax_error_gives_the_reason(client, tenant):
    r = client.post(URL, {**SMS, "data": {"body": "Code {{otp"}}, format="json")
    (err,) = assert_error(r, 400, source="data.body", code="template_syntax")
    assert "unclosed" in err["detail"] and "position 5" in err["detail"]


def test_malformed_json_and_wrong_content_type(client, tenant):
    assert_error(client.post(URL, b"{", content_type="application/json"), 400)
    assert_error(client.post(URL, b"name=x", content_type="text/plain"), 415)
    assert Template.objects.count() == 0


def test_idempotent_create(client, tenant):
    first = client.post(URL, SMS, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert first.status_code == 201
    again = client.post(URL, SMS, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert Template.objects.count() == 1
    other = client.post(URL, {**SMS, "name": "otp2"}, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert_error(other, 409, source="Idempotency-Key")
    assert Template.objects.count() == 1


# --- list, get, change, delete ----------------------------------------------------------------


@pytest.fixture
def several(tenant):
    TemplateFactory(tenant=tenant, name="a-sms", mode="sms", tags=["auth", "otp"])
    TemplateFactory(tenant=tenant, name="b-sms", mode="sms", tags=["marketing"])
    TemplateFactory(tenant=tenant, name="c-mail", mode="email",
                    data={"subject": "s", "body": "b"}, tags=["auth"])  # fmt: skip
    TemplateFactory(tenant=tenant, name="d-wa", mode="whatsapp", data={"body": "hi"})


def _names(r):
    assert r.status_code == 200, r.content
    return [t["name"] for t in r.json()["results"]]


def test_list(client, several, theirs):
    r = client.get(URL)
    body = r.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 4 and _names(r) == ["a-sms", "b-sms", "c-mail", "d-wa"]
    assert _names(client.get(URL, {"mode": "sms"})) == ["a-sms", "b-sms"]
    assert _names(client.get(URL, {"tag": "auth"})) == ["a-sms", "c-mail"]
    assert _names(client.get(URL, {"tag": "auth", "mode": "email"})) == ["c-mail"]
    assert _names(client.get(URL, {"tag": "none"})) == []
    page = client.get(URL, {"pageSize": 3, "page": 2}).json()
    assert page["count"] == 4 and [t["name"] for t in page["results"]] == ["d-wa"]
    assert page["next"] is None and "pageSize=3" in page["previous"]


def test_get(client, templates):
    r = client.get(f"{URL}/order")
    assert r.status_code == 200
    assert r.json()["data"]["name"] == "order" and r.json()["data"]["mode"] == "email"


def test_patch(client, templates):
    r = client.patch(f"{URL}/otp", {"isActive": False, "tags": ["x"]}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["data"]["isActive"] is False and r.json()["data"]["tags"] == ["x"]
    r = client.patch(f"{URL}/otp", {"name": "otp-v2", "data": {"body": "Code {{otp}}"}},
                     format="json")  # fmt: skip
    assert r.status_code == 200, r.content
    t = Template.objects.get(name="otp-v2")
    assert t.data == {"body": "Code {{otp}}"} and not t.is_active
    assert_error(client.get(f"{URL}/otp"), 404)


@pytest.mark.parametrize(
    ("body", "status", "source"),
    [
        ({"name": "order"}, 409, "name"),
        ({"data": {"body": "{{"}}, 400, "data.body"),
        ({"mode": "email"}, 400, "data.subject"),  # an sms body has no subject
        ({"mode": "fax"}, 400, "mode"),
        ({"isActive": 1}, 400, "isActive"),
        ({"colour": "red"}, 400, "colour"),
        ({"name": ""}, 400, "name"),
    ],
)
def test_bad_patch(client, templates, body, status, source):
    before = list(Template.objects.order_by("pk").values())
    assert_error(client.patch(f"{URL}/otp", body, format="json"), status, source=source)
    assert list(Template.objects.order_by("pk").values()) == before


def test_delete(client, templates, sandbox, run_tasks):
    r = client.post(
        "/api/v1/messages",
        {"sms": [{"template": "otp", "data": {"otp": "1"}, "to": ["+14155550100"]}]},
        format="json",
    )
    assert r.status_code == 202
    assert client.delete(f"{URL}/otp").status_code == 204
    assert not Template.objects.filter(name="otp").exists()
    assert Message.objects.get().template is None  # the history stays
    assert_error(client.delete(f"{URL}/otp"), 404)


@pytest.mark.parametrize("method", ["get", "patch", "delete", "preview"])
def test_another_tenants_template_is_not_found(client, tenant, theirs, method):
    if method == "preview":
        r = client.post(f"{URL}/secret/preview", {"data": {"otp": "1"}}, format="json")
    else:
        r = getattr(client, method)(f"{URL}/secret", {"isActive": False}, format="json")
    assert_error(r, 404)
    theirs.refresh_from_db()
    assert theirs.is_active


def test_unknown_template_is_not_found(client, tenant):
    assert_error(client.get(f"{URL}/nope"), 404)


# --- preview --------------------------------------------------------------------------------


def _preview(client, name, data):
    return client.post(f"{URL}/{name}/preview", {"data": data}, format="json")


@pytest.fixture
def plain(tenant):
    return TemplateFactory(tenant=tenant, name="plain", mode="sms", data={"body": "{{text}}"})


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 80, 1),  # an extension character takes two septets
        ("€" * 81, "GSM-7", 81, 2),
        ("ł" * 70, "UCS-2", 70, 1),
        ("ł" * 71, "UCS-2", 71, 2),
        ("Hi 😀", "UCS-2", 4, 1),
    ],
)
def test_sms_preview_counts(client, plain, text, encoding, characters, segments):
    r = _preview(client, "plain", {"text": text})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["body"] == text and body["mode"] == "sms"
    assert (body["encoding"], body["characters"], body["segments"]) == (
        encoding,
        characters,
        segments,
    )


def test_sms_preview_uses_tenant_placeholders(client, templates):
    r = _preview(client, "otp", {"otp": "342365"})
    assert r.status_code == 200
    assert r.json()["body"] == "Your Acme code is 342365"
    assert r.json()["segments"] == 1 and r.json()["encoding"] == "GSM-7"


def test_email_preview_escapes_values_in_html_only(client, templates):
    r = _preview(client, "order", {"orderId": "<1>", "name": "<b>Tom & Jerry</b>"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["subject"] == "Order <1>"
    assert body["html"] == "<p>Hi &lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>"
    assert body["body"] == "Hi <b>Tom & Jerry</b>"
    assert "encoding" not in body


def test_plain_text_email_preview_is_not_escaped(client, tenant):
    TemplateFactory(tenant=tenant, name="txt", mode="email",
                    data={"subject": "S", "body": "Hi {{name}}"})  # fmt: skip
    body = _preview(client, "txt", {"name": "<Ann>"}).json()
    assert body["body"] == "Hi <Ann>" and body["html"] == ""


@pytest.mark.parametrize(
    ("name", "data", "source"),
    [
        ("otp", {}, "data.otp"),
        ("otp", {"otp": None}, "data.otp"),
        ("order", {"name": "Ann"}, "data.orderId"),
        ("order", {"orderId": "1"}, "data.name"),
    ],
)
def test_preview_missing_placeholder(client, templates, name, data, source):
    r = _preview(client, name, data)
    (err,) = assert_error(r, 400, source=source, code="missing_placeholder")
    assert source.split(".")[1] in err["detail"]


@pytest.mark.parametrize(
    ("body", "source"),
    [({"data": "x"}, "data"), ({"values": {}}, "values"), ([1], None)],
)
def test_bad_preview(client, templates, body, source):
    assert_error(client.post(f"{URL}/otp/preview", body, format="json"), 400, source=source)


def test_preview_of_a_broken_stored_template_is_a_400(client, tenant):
    TemplateFactory(tenant=tenant, name="broken", data={"body": "Hi {{name"})
    assert_error(_preview(client, "broken", {"name": "x"}), 400, code="template_syntax")


def test_app_placeholders_override_the_tenants(client, templates, app):
    app.placeholders = {"company": "Acme Shop"}
    app.save()
    assert _preview(client, "otp", {"otp": "1"}).json()["body"] == "Your Acme Shop code is 1"


def test_preview_takes_an_idempotency_key(client, templates):
    first = client.post(f"{URL}/otp/preview", {"data": {"otp": "1"}}, format="json",
                        HTTP_IDEMPOTENCY_KEY="p")  # fmt: skip
    assert first.status_code == 200
    other = client.post(f"{URL}/otp/preview", {"data": {"otp": "2"}}, format="json",
                        HTTP_IDEMPOTENCY_KEY="p")  # fmt: skip
    assert_error(other, 409, source="Idempotency-Key")


def test_preview_needs_a_key(anon_client, templates):
    assert_error(anon_client.post(f"{URL}/otp/preview", {"data": {}}, format="json"), 401)


def test_templates_need_a_key(db):
    c = APIClient()
    assert_error(c.get(URL), 401)
    c.credentials(HTTP_X_API_KEY=issue_key(AppFactory()))
    assert c.get(URL).json()["count"] == 0
