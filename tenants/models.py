import hashlib
import ipaddress
import secrets
from datetime import time

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

API_KEY_PREFIX = "omk"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


# Quiet hours (contacts.quiet): the channels that wake a phone are quiet by default; email
# waits in an inbox, so it is sent at night unless a tenant adds it.
QUIET_CHANNEL_CHOICES = ["sms", "whatsapp", "viber", "rcs", "push", "email"]
DEFAULT_QUIET_CHANNELS = ["sms", "whatsapp", "viber", "rcs", "push"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def default_quiet_channels() -> list[str]:
    return list(DEFAULT_QUIET_CHANNELS)


def every_day() -> list[int]:
    return list(range(7))


class Tenant(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    # Region used to read national phone numbers ("0412 345 678") that lack a country code.
    default_country = models.CharField(max_length=2, default="US")
    placeholders = models.JSONField(
        default=dict, blank=True, help_text="Values every template of this tenant can use."
    )

    class UnknownPolicy(models.TextChoices):
        RESEND = "resend", "Resend (at-least-once)"
        HOLD = "hold", "Hold for review (PENDING_UNKNOWN)"

    # A send a crashed worker left without a recorded answer, that no report or look-up
    # settled: sent again (the provider may then have it twice) or held for a person.
    unknown_outcome_policy = models.CharField(
        max_length=10, choices=UnknownPolicy.choices, default=UnknownPolicy.RESEND
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="IANA name (Europe/Berlin): the quiet hours of a recipient whose own time "
        "zone is unknown (no contact time zone, a phone number of several zones).",
    )
    # Quiet hours: a non-urgent message due inside the recipient's window waits for its end.
    quiet_hours_enabled = models.BooleanField(
        "quiet hours on",
        default=False,
        help_text="Defer messages of normal and low priority due in the window to its end; "
        "high priority passes. A contact may have hours of its own or none.",
    )
    quiet_start = models.TimeField(default=time(21, 0), help_text="Local time the window opens.")
    quiet_end = models.TimeField(
        default=time(8, 0), help_text="Local time it closes (before the start: the next day)."
    )
    quiet_days = models.JSONField(
        default=every_day,
        blank=True,
        help_text="Weekdays (0 Monday … 6 Sunday) whose windows apply: a window belongs to the "
        "day it opens on (Friday 21:00–Saturday 08:00 is Friday's).",
    )
    quiet_channels = models.JSONField(
        default=default_quiet_channels,
        blank=True,
        help_text="The channels quiet hours defer (by default all but email).",
    )
    # The defence against SMS pumping: SMS only to these regions; others end
    # REJECTED_DESTINATION per recipient at accept. Empty: every country.
    sms_countries = models.JSONField(
        "SMS countries",
        default=list,
        blank=True,
        help_text="ISO 3166-1 alpha-2 regions (US, DE) SMS may go to; a recipient elsewhere is "
        "refused (REJECTED_DESTINATION, country_not_allowed). None chosen: every country.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


def networks_of(values: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """CIDR ranges ("203.0.113.0/24", "2001:db8::/32", or one address); ValueError names the
    first bad one."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR range.") from None
    return out


def validate_networks(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("A list of IP addresses or CIDR ranges.")
    try:
        networks_of(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class App(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="apps")
    name = models.CharField(max_length=100)
    webhook_secret = models.CharField(
        max_length=100,
        default=new_webhook_secret,
        help_text="Signs the callbacks this app receives (X-Signature).",
    )
    placeholders = models.JSONField(
        default=dict, blank=True, help_text="Values that override the tenant's placeholders."
    )
    is_active = models.BooleanField(default=True)
    # Source address ranges this app's API calls may come from (websms's UNAUTHORIZED_IP);
    # empty: anywhere. CIDR strings, IPv4 or IPv6.
    allowed_ips = models.JSONField(default=list, blank=True, validators=[validate_networks])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_app_name")]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name}"


def hash_key(raw: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough (no need for a KDF).
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(
        max_length=16, help_text="The key's first characters, to tell keys apart."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.app})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @classmethod
    def issue(cls, app: App, name: str = "") -> tuple["ApiKey", str]:
        """Create a key and return it with its raw value, which is never stored or shown again."""
        raw = f"{API_KEY_PREFIX}_{secrets.token_urlsafe(32)}"
        key = cls.objects.create(app=app, prefix=raw[:12], key_hash=hash_key(raw), name=name)
        return key, raw

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class Role(models.TextChoices):
    TENANT_ADMIN = "tenant_admin", "Tenant admin"
    SUPPORT = "support", "Support"
    DEVELOPER = "developer", "Developer"


class Membership(models.Model):
    """A user's role in one tenant; what the admin shows them follows from it."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} of {self.tenant}"
