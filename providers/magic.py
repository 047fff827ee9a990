"""Magic recipients: the one table the sandbox provider and the provider simulator share.

A phone number's last four digits (for email, the start of the address's local part; for
push, the last four characters of the token or of the subscription's endpoint) script what
happens to a message, so that an app can rehearse every outcome. Both stand-ins read this
table, so a number means the same whichever one a message goes through; the table is
documented in docs/simulator.md. It imports nothing of the project: providers.backends may
use it.
"""

from __future__ import annotations

import json

# suffix -> (outcome, what a user sees). Order is the documentation's.
MAGIC_SUFFIXES: dict[str, tuple[str, str]] = {
    "0001": ("reject", "refused at once: REJECTED_DESTINATION (permanent)"),
    "0002": ("flaky", "the first attempt fails transiently; the retry (within ~10 s) delivers"),
    "0003": ("no_account", "no WhatsApp/Viber/RCS account: REJECTED_NOT_ON_CHANNEL; SMS delivers"),
    "0004": ("bounce", "accepted, then reported UNDELIVERABLE_NOT_DELIVERED"),
    "0005": ("throttle", "HTTP 429 on every attempt: retried with backoff, then given up"),
    "0006": ("slow", "the provider answers late (simulator: --slow-seconds), then delivers"),
}
# Benchmarks and tests pick ordinary numbers outside 0001-0006: keep new entries in that range.
# Email recipients: the local part's start (reject@, flaky42@, bounce.test@ ...).
EMAIL_PREFIXES: dict[str, str] = {"reject": "reject", "flaky": "flaky", "bounce": "bounce"}
OUTCOMES = ("deliver", *(outcome for outcome, _ in MAGIC_SUFFIXES.values()))
# The channels where "no_account" applies: the ones a number needs an app account for.
ACCOUNT_CHANNELS = frozenset({"whatsapp", "viber", "rcs"})
# Attempts a flaky recipient fails before it delivers. One, so that the retry policy's first
# backoff (5-10 s, messaging.services.status.retry_delay) is all it waits: the production
# policy is untouched and the flaky case still delivers within seconds.
FLAKY_FAILURES = 1


def digits_of(value: str) -> str:
    """The digits of a phone number in any format (`whatsapp:+1 415 555 0002` -> 14155550002)."""
    return "".join(ch for ch in value if ch.isdigit())


def push_key(to: str) -> str:
    """What steers a push recipient: the token, or a Web Push subscription's endpoint (its
    keys are random: their digits must not script an outcome by chance)."""
    if to.startswith("{"):
        try:
            endpoint = json.loads(to).get("endpoint")
        except (ValueError, AttributeError):
            return to
        return endpoint if isinstance(endpoint, str) else to
    return to


def magic_outcome(to: str, channel: str = "sms") -> str:
    """The scripted outcome for a recipient: one of OUTCOMES ("deliver" when nothing magic)."""
    if channel == "email":
        local = to.split("@", 1)[0].lower()
        for prefix, outcome in EMAIL_PREFIXES.items():
            if local.startswith(prefix):
                return outcome
        return "deliver"
    if channel == "push":
        # Its last four characters, not digits: a random token has digits all over.
        entry = MAGIC_SUFFIXES.get(push_key(to)[-4:])
        return entry[0] if entry else "deliver"
    entry = MAGIC_SUFFIXES.get(digits_of(to)[-4:])
    return entry[0] if entry else "deliver"
