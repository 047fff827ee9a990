"""Register, review and send notifications.

A registration names one template per channel; any change of templates sends the notification
back to review. A send names the notification instead of templates: its entries get the
notification's templates, and it goes through messaging's accept like any send (same checks,
same idempotency, same answer), once the notification is ENABLED and its templates active.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.channels import CHANNEL_KEYS
from core.errors import ApiError, ApiErrors
from core.validation import check_name
from messaging.models import Template
from messaging.services.accept import AcceptedMessage, message_accept
from tenants.models import App

from .models import Notification, NotificationReview, NotificationTemplate, ReviewAction, Status

MAX_DESCRIPTION = 2000
# What an entry may not say itself when a notification gives its content: the reviewed text
# (template, inline body, subject, format) and a provider template that would replace it.
CONTENT_FIELDS = ("template", "body", "subject", "format", "title", "providerTemplate")


def templates_check(app: App, raw: Any) -> dict[str, Template]:
    """{"sms": "<template name>", ...} → the tenant's templates, each of its channel's mode.
    Every problem is a 400 naming `templates.<channel>`."""
    if not isinstance(raw, dict) or not raw:
        raise ApiError(
            "required",
            "templates maps at least one channel to a template name.",
            source="templates",
        )
    errors: list[ApiError] = []
    names = {v for v in raw.values() if isinstance(v, str)}
    found = {t.name: t for t in Template.objects.filter(tenant_id=app.tenant_id, name__in=names)}
    out: dict[str, Template] = {}
    for channel, name in raw.items():
        source = f"templates.{channel}"
        if channel not in CHANNEL_KEYS:
            errors.append(
                ApiError(
                    "unknown_channel",
                    f"'{channel}' is not a channel ({', '.join(CHANNEL_KEYS)}).",
                    source=source,
                )
            )
        elif not isinstance(name, str) or not name:
            errors.append(ApiError("invalid_type", "must be a template's name.", source=source))
        elif name not in found:
            errors.append(
                ApiError("unknown_template", f"No template named '{name}'.", source=source)
            )
        elif found[name].mode != channel:
            errors.append(
                ApiError(
                    "template_mode",
                    f"Template '{name}' is a {found[name].mode} template, not {channel}.",
                    source=source,
                )
            )
        else:
            out[channel] = found[name]
    if errors:
        raise ApiErrors(errors)
    return out


def templates_snapshot(notification: Notification) -> dict[str, Any]:
    """What the templates said at this moment, for the audit trail: a reviewer's decision is
    about this text, whatever the template says later."""
    out: dict[str, Any] = {}
    for row in notification.templates.select_related("template"):
        t = row.template
        out[row.channel] = (
            {"template": t.name, "mode": t.mode, "data": t.data, "isActive": t.is_active}
            if t is not None
            else {"template": None}
        )
    return out


def _audit(
    notification: Notification,
    action: str,
    *,
    app: App | None = None,
    user=None,
    comment: str = "",
) -> NotificationReview:
    if user is not None:
        actor = user.get_username()
    elif app is not None:
        actor = f"app {app.name}"
    else:
        actor = ""
    return NotificationReview.objects.create(
        notification=notification,
        action=action,
        actor_user=user,
        actor_app=app,
        actor_name=actor[:200],
        status=notification.status,
        comment=comment,
        templates=templates_snapshot(notification),
    )


@transaction.atomic
def notification_register(
    *, app: App, name: Any, description: Any = "", templates: Any = None
) -> tuple[Notification, bool]:
    """Register `name` for `app`, or register it again. Returns (notification, created).

    The same templates again: nothing changes but the description. Other templates: back to
    PENDING_REVIEW, with the earlier review cleared (it was about other text)."""
    name = check_name(name)
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise ApiError("invalid_type", "must be a string.", source="description")
    if len(description) > MAX_DESCRIPTION:
        raise ApiError(
            "too_long",
            f"description is {len(description)} characters; at most {MAX_DESCRIPTION}.",
            source="description",
        )
    wanted = templates_check(app, templates)
    existing = Notification.objects.select_for_update().filter(app=app, name=name).first()
    if existing is None:
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    app=app, name=name, description=description
                )
                NotificationTemplate.objects.bulk_create(
                    NotificationTemplate(notification=notification, channel=c, template=t)
                    for c, t in wanted.items()
                )
                _audit(notification, ReviewAction.REGISTERED, app=app)
                return notification, True
        except IntegrityError:
            # A concurrent registration of the same name won: this one is a re-registration.
            existing = Notification.objects.select_for_update().get(app=app, name=name)
    return _re_register(existing, app=app, description=description, wanted=wanted), False


def _re_register(
    notification: Notification, *, app: App, description: str, wanted: dict[str, Template]
) -> Notification:
    current = {row.channel: row.template_id for row in notification.templates.all()}
    same_templates = current == {c: t.pk for c, t in wanted.items()}
    if same_templates and description == notification.description:
        return notification
    notification.description = description
    if not same_templates:
        notification.templates.all().delete()
        NotificationTemplate.objects.bulk_create(
            NotificationTemplate(notification=notification, channel=c, template=t)
            for c, t in wanted.items()
        )
        notification.status = Status.PENDING_REVIEW
        notification.reviewed_by = None
        notification.reviewed_at = None
        notification.review_comment = ""
    notification.save()
    comment = "" if not same_templates else "Description changed; templates unchanged."
    _audit(notification, ReviewAction.RE_REGISTERED, app=app, comment=comment)
    return notification


@transaction.atomic
def notification_review(*, notification: Notification, enable: bool, user, comment: str) -> bool:
    """Enable or disable, with the reviewer's reason. Returns False when the notification
    already had that status (nothing recorded)."""
    locked = Notification.objects.select_for_update().get(pk=notification.pk)
    status = Status.ENABLED if enable else Status.DISABLED
    if locked.status == status:
        return False
    locked.status = status
    locked.reviewed_by = user
    locked.reviewed_at = timezone.now()
    locked.review_comment = comment
    locked.save(
        update_fields=["status", "reviewed_by", "reviewed_at", "review_comment", "updated_at"]
    )
    _audit(
        locked,
        ReviewAction.ENABLED if enable else ReviewAction.DISABLED,
        user=user,
        comment=comment,
    )
    notification.refresh_from_db()
    return True


def notification_send_body(*, app: App, body: Any) -> dict[str, Any]:
    """The /api/v1/messages body for a send with `"notification": "<name>"`: each entry of
    each channel gets the notification's template for that channel.

    400 for an unknown notification, an entry that brings its own content, or a channel the
    notification has no template for; 403 for a notification that is not ENABLED or a
    template of it (on a channel sent to) that is inactive or deleted."""
    if not isinstance(body, dict):
        raise ApiError("invalid_type", "The request body must be a JSON object.")
    name = body.get("notification")
    if name is not None and not isinstance(name, str):
        raise ApiError("invalid_type", "notification must be a string.", source="notification")
    if not name or not name.strip():
        raise ApiError(
            "required", "notification names a registered notification.", source="notification"
        )
    notification = (
        Notification.objects.filter(app=app, name=name.strip())
        .prefetch_related("templates__template")
        .first()
    )
    if notification is None:
        raise ApiError(
            "unknown_notification", f"No notification named '{name}'.", source="notification"
        )
    rows = notification.templates_by_channel()
    errors: list[ApiError] = []
    out = {k: v for k, v in body.items() if k != "notification"}
    used = []
    for channel in CHANNEL_KEYS:
        entries = body.get(channel)
        if not isinstance(entries, list):
            continue  # absent, or not a list: accept names the mistake
        if channel not in rows:
            errors.append(
                ApiError(
                    "no_notification_template",
                    f"Notification '{notification.name}' has no {channel} template.",
                    source=channel,
                )
            )
            continue
        used.append(channel)
        rewritten = []
        for i, entry in enumerate(entries):
            if isinstance(entry, dict):
                for key in CONTENT_FIELDS:
                    if key in entry:
                        errors.append(
                            ApiError(
                                "notification_content",
                                f"'{key}' cannot be given: notification "
                                f"'{notification.name}' gives the {channel} content.",
                                source=f"{channel}[{i}].{key}",
                            )
                        )
                template = rows[channel].template
                entry = {**entry, "template": template.name if template else ""}
            rewritten.append(entry)
        out[channel] = rewritten
    if errors:
        raise ApiErrors(errors)
    if notification.status != Status.ENABLED:
        state = (
            "is waiting for a tenant admin's review"
            if notification.status == Status.PENDING_REVIEW
            else "has been disabled"
        )
        raise ApiError(
            "notification_not_enabled",
            f"Notification '{notification.name}' is {notification.status}: it {state}.",
            source="notification",
            status=403,
        )
    refused = []
    for channel in used:
        template = rows[channel].template
        if template is None:
            refused.append(
                ApiError(
                    "template_missing",
                    f"The {channel} template of notification '{notification.name}' was deleted.",
                    source=channel,
                    status=403,
                )
            )
        elif not template.is_active:
            refused.append(
                ApiError(
                    "template_inactive",
                    f"Template '{template.name}' ({channel}) of notification "
                    f"'{notification.name}' is not active.",
                    source=channel,
                    status=403,
                )
            )
    if refused:
        raise ApiErrors(refused, status=403)
    return out


def notification_send(*, app: App, body: Any) -> tuple[Any, list[AcceptedMessage]]:
    """Check the notification, then accept the rewritten send like POST /api/v1/messages."""
    return message_accept(app=app, body=notification_send_body(app=app, body=body))
