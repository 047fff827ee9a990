"""An app's allowed source IP ranges (websms's 4014 UNAUTHORIZED_IP): a call from elsewhere
is a 403 ip_not_allowed with the error document and stores nothing; behind proxies of our
own the caller is read from X-Forwarded-For, right to left, never from what a client wrote."""

import pytest
from django.test import Client

from messaging.models import Message
from tests.factories import staff_user
from tests.helpers import assert_error

SEND = {"sms": [{"body": "Code 4821", "to": ["+14155550100"]}]}


@pytest.fixture
def fenced(app):
    app.allowed_ips = ["203.0.113.0/24", "2001:db8::/32"]
    app.save()
    return app


def post(client, **meta):
    return client.post("/api/v1/messages", SEND, format="json", **meta)


@pytest.mark.parametrize(
    "ip",
    ["203.0.113.7", "2001:db8::1", "::ffff:203.0.113.9"],  # v4, v6, v4 mapped in v6
)
def test_a_call_from_an_allowed_range_is_served(client, sandbox, fenced, ip):
    assert post(client, REMOTE_ADDR=ip).status_code == 202


@pytest.mark.parametrize("ip", ["198.51.100.1", "2001:db9::1", "127.0.0.1"])
def test_a_call_from_elsewhere_is_refused_and_stores_nothing(client, sandbox, fenced, ip):
    (err,) = assert_error(post(client, REMOTE_ADDR=ip), 403, code="ip_not_allowed")
    assert ip in err["detail"]
    assert not Message.objects.exists()
    assert_error(client.get("/api/v1/messages", REMOTE_ADDR=ip), 403, code="ip_not_allowed")


def test_no_ranges_means_from_anywhere(client, sandbox, app):
    assert post(client, REMOTE_ADDR="198.51.100.1").status_code == 202


def test_behind_our_proxy_the_caller_is_the_address_it_appended(client, sandbox, fenced, settings):
    settings.API_TRUSTED_PROXY_HOPS = 1
    proxy = "10.0.0.5"  # REMOTE_ADDR: our proxy, not in the ranges
    ok = post(client, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert ok.status_code == 202
    # A client that writes an allowed address itself: the proxy appends the real one.
    forged = post(client, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.50, 198.51.100.7")
    (err,) = assert_error(forged, 403, code="ip_not_allowed")
    assert "198.51.100.7" in err["detail"]
    # Without the setting the header is ignored: the proxy's own address is the caller.
    settings.API_TRUSTED_PROXY_HOPS = 0
    assert_error(post(client, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.50"), 403)


def test_the_admin_edits_the_ranges_one_per_line(app, tenant):
    c = Client()
    c.force_login(staff_user("alice", tenant=tenant, role="tenant_admin"))
    url = f"/admin/tenants/app/{app.pk}/change/"
    form = {"tenant": tenant.pk, "name": app.name, "placeholders": "{}", "is_active": "on"}
    r = c.post(url, {**form, "allowed_ips": "203.0.113.0/24\n\n 2001:db8::1 \n"})
    assert r.status_code == 302, r.content.decode()[:2000]
    app.refresh_from_db()
    assert app.allowed_ips == ["203.0.113.0/24", "2001:db8::1/128"]
    page = c.get(url).content.decode()
    assert "203.0.113.0/24" in page and "Allowed source IPs" in page
    r = c.post(url, {**form, "allowed_ips": "203.0.113.0/24\nnot-an-ip"})
    assert r.status_code == 200
    assert "&#x27;not-an-ip&#x27; is not an IP address or CIDR range." in r.content.decode()
    app.refresh_from_db()
    assert app.allowed_ips == ["203.0.113.0/24", "2001:db8::1/128"]
