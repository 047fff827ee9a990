"""The channels of the send API (`POST /api/v1/messages` takes one array per channel)."""

CHANNEL_KEYS = ("sms", "email", "whatsapp", "viber", "rcs", "push")
# The channels whose recipients are phone numbers (E.164); email's are addresses, push's
# are app registration tokens or Web Push subscriptions (core.push).
PHONE_CHANNELS = ("sms", "whatsapp", "viber", "rcs")
