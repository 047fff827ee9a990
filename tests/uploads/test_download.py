"""The signed link: what a provider fetches without an API key, and what it cannot."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client

from tests.uploads import samples
from tests.uploads.conftest import upload
from uploads import services
from uploads.models import Media


def fetch(url: str, method: str = "get"):
    """The link as a provider fetches it: no API key, no session."""
    return getattr(Client(), method)(urlsplit(url).path)


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_link_serves_the_file_as_its_sniffed_type(client, settings):
    uploaded = upload(client, samples.pdf(), "scan.png").json()
    assert uploaded["url"].startswith(f"{settings.PUBLIC_BASE_URL}/media/")
    assert uploaded["url"].endswith("/scan.pdf")  # a provider names the file from its URL
    r = fetch(uploaded["url"])
    assert r.status_code == 200
    assert body_of(r) == samples.pdf()
    assert r["Content-Type"] == "application/pdf"
    assert r["Content-Length"] == str(len(samples.pdf()))
    assert r["Content-Disposition"] == 'attachment; filename="scan.pdf"'
    assert r["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in r["Content-Security-Policy"]


def test_an_image_is_served_inline_and_answers_head(client):
    url = upload(client, samples.png(), "map.png").json()["url"]
    r = fetch(url)
    assert r["Content-Type"] == "image/png"
    assert r["Content-Disposition"] == 'inline; filename="map.png"'
    assert fetch(url, "head").status_code == 200


def test_a_non_ascii_name_keeps_its_letters_in_the_header_and_ascii_in_the_url(client):
    url = upload(client, samples.pdf(), "Résumé – Ann.pdf").json()["url"]
    assert url.endswith("/Resume-Ann.pdf")
    assert (
        "filename*=utf-8''R%C3%A9sum%C3%A9%20%E2%80%93%20Ann.pdf"
        in fetch(url)["Content-Disposition"]
    )


def test_an_expired_link_is_gone(client, tenant):
    uploaded = upload(client, samples.pdf(), "a.pdf").json()
    media = Media.objects.get(pk=uploaded["mediaId"])
    url, _ = services.download_link(media, max_age=timedelta(seconds=-1))
    r = fetch(url)
    assert r.status_code == 410
    assert r.json()["errors"][0]["code"] == "link_expired"


@pytest.mark.parametrize("how", ["signature", "id", "salt", "garbage"])
def test_a_forged_link_is_a_404(client, how):
    uploaded = upload(client, samples.pdf(), "a.pdf").json()
    url = uploaded["url"]
    token = urlsplit(url).path.split("/")[2]
    if how == "signature":
        forged = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    elif how == "id":  # another media's id under this token's signature
        payload = signing.loads(token, salt="uploads.media.download")
        other = signing.dumps(["med_" + "0" * 32, payload[1]], salt="uploads.media.download")
        forged = other.split(":")[0] + ":" + token.split(":", 1)[1]
    elif how == "salt":  # signed by this service for another purpose
        forged = signing.dumps([uploaded["mediaId"], 4102444800], salt="something.else")
    else:
        forged = "not-a-token"
    r = fetch(url.replace(token, forged))
    assert r.status_code == 404, how
    assert r.json()["errors"][0]["code"] == "not_found"
    assert fetch(url).status_code == 200  # the control


def test_a_link_to_media_whose_file_is_gone_is_a_404(client):
    uploaded = upload(client, samples.pdf(), "a.pdf").json()
    Media.objects.get(pk=uploaded["mediaId"]).file.delete(save=False)
    assert fetch(uploaded["url"]).status_code == 404
    Media.objects.all().delete()
    assert fetch(uploaded["url"]).status_code == 404


def test_the_link_of_a_send_outlives_any_message_that_may_carry_it():
    from messaging.services.accept import MAX_SCHEDULE_DAYS, MAX_VALIDITY_MINUTES

    longest = timedelta(days=MAX_SCHEDULE_DAYS, minutes=MAX_VALIDITY_MINUTES)
    assert services.SEND_LINK_MAX_AGE > longest
