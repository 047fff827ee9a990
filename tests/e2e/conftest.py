"""The end-to-end runs send free-form WhatsApp through real adapters (Twilio, Infobip):
their customer-care windows count as open here, as in tests/providers (the window itself is
tested in tests/contacts)."""

from tests.providers.conftest import care_windows_open  # noqa: F401 (an autouse fixture)
