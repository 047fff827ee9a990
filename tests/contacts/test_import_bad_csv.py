"""A CSV the import cannot read or store is a 400 naming the body, never a 500."""

import pytest

from contacts.models import Contact
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_csv_with_a_nul_character_is_refused(client):
    # PostgreSQL's text holds no NUL: stored, it was a 500 there (SQLite kept it).
    r = client.post("/api/v1/contacts/import", b"externalId,name\nu-1,a\x00b\n",
                    content_type="text/csv")  # fmt: skip
    assert_error(r, 400, source="body", code="malformed_body")
    assert not Contact.objects.exists()


def test_csv_with_a_field_over_the_csv_module_limit_is_refused(client):
    # Python's csv module raises csv.Error for a field over 128 KiB: it was a 500.
    text = "externalId,name\nu-1," + "x" * 200_000 + "\n"
    r = client.post("/api/v1/contacts/import", text.encode(), content_type="text/csv")
    assert_error(r, 400, source="body", code="malformed_body")
    assert not Contact.objects.exists()
