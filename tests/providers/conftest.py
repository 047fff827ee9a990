"""The adapters' tests rehearse their wire formats with free-form WhatsApp: every WhatsApp
customer-care window counts as open here (the window has its own tests, tests/contacts)."""

import pytest

from contacts import services as contact_services


@pytest.fixture(autouse=True)
def care_windows_open(monkeypatch):
    monkeypatch.setattr(contact_services, "open_windows", lambda *, tenant, keys, **kw: set(keys))
