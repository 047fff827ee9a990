"""An API key issued in the admin is shown once, on the page, and never travels in a cookie
(Django's default message storage puts messages in a readable, signed-not-encrypted cookie)."""

import re

from django.test import Client

from tenants.models import ApiKey, hash_key


def test_an_issued_key_is_shown_once_and_never_in_a_cookie(alpha, alpha_admin):
    c = Client()
    c.force_login(alpha_admin)
    app = alpha["app"]
    r = c.post("/admin/tenants/app/", {"action": "issue_key", "_selected_action": [app.pk]})
    assert r.status_code == 302
    # The message (with the key) is kept in the session, server-side: no messages cookie,
    # whose signed value anyone holding it could decode.
    assert "messages" not in r.cookies
    page = c.get(r["Location"]).content.decode()
    (key,) = re.findall(r"New API key for [^:]+: (\S+) \(copy it now", page)
    assert ApiKey.objects.filter(app=app, key_hash=hash_key(key)).exists()
    assert key not in c.get(r["Location"]).content.decode()  # shown once
