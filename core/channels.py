"""The channels of the send API (`POST /api/v1/messages` takes one array per channel)."""

CHANNEL_KEYS = ("sms", "email", "whatsapp")
