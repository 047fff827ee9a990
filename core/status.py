"""The status vocabulary of API.md: a group, a precise name, a description, and a rank.

A status only moves forward: a report is applied when its rank is higher than the
message's current rank, and a final status (any group but PENDING) changes only to a
better status of the same group (DELIVERED_TO_HANDSET → DELIVERED_READ).
"""

from dataclasses import dataclass

PENDING = "PENDING"
DELIVERED = "DELIVERED"
UNDELIVERABLE = "UNDELIVERABLE"
EXPIRED = "EXPIRED"
REJECTED = "REJECTED"
CANCELLED = "CANCELLED"
GROUPS = (PENDING, DELIVERED, UNDELIVERABLE, EXPIRED, REJECTED, CANCELLED)

PENDING_SCHEDULED = "PENDING_SCHEDULED"
PENDING_FAILOVER = "PENDING_FAILOVER"
PENDING_ACCEPTED = "PENDING_ACCEPTED"
PENDING_WAITING_RETRY = "PENDING_WAITING_RETRY"
PENDING_PROCESSING = "PENDING_PROCESSING"
PENDING_UNKNOWN = "PENDING_UNKNOWN"
PENDING_ENROUTE = "PENDING_ENROUTE"
DELIVERED_TO_OPERATOR = "DELIVERED_TO_OPERATOR"
DELIVERED_TO_HANDSET = "DELIVERED_TO_HANDSET"
DELIVERED_READ = "DELIVERED_READ"
UNDELIVERABLE_NOT_DELIVERED = "UNDELIVERABLE_NOT_DELIVERED"
UNDELIVERABLE_REJECTED_OPERATOR = "UNDELIVERABLE_REJECTED_OPERATOR"
EXPIRED_EXPIRED = "EXPIRED_EXPIRED"
REJECTED_DESTINATION = "REJECTED_DESTINATION"
REJECTED_NOT_ON_CHANNEL = "REJECTED_NOT_ON_CHANNEL"
REJECTED_PROVIDER = "REJECTED_PROVIDER"
REJECTED_CONTENT = "REJECTED_CONTENT"
REJECTED_SUPPRESSED = "REJECTED_SUPPRESSED"
CANCELLED_BY_CLIENT = "CANCELLED_BY_CLIENT"
CANCELLED_NOT_NEEDED = "CANCELLED_NOT_NEEDED"


@dataclass(frozen=True)
class Status:
    name: str
    group: str
    rank: int
    description: str

    @property
    def is_final(self) -> bool:
        return self.group != PENDING

    def as_dict(self) -> dict[str, str]:
        return {"groupName": self.group, "name": self.name, "description": self.description}


_ALL = [
    Status(
        PENDING_FAILOVER,
        PENDING,
        0,
        "Held: a later channel of its omnimessage, sent only if the one before it fails.",
    ),
    Status(PENDING_SCHEDULED, PENDING, 0, "Held until its scheduled time."),
    Status(PENDING_ACCEPTED, PENDING, 10, "Accepted; waiting to be sent."),
    Status(PENDING_WAITING_RETRY, PENDING, 15, "A transient error occurred; it will be retried."),
    Status(PENDING_PROCESSING, PENDING, 20, "Being handed to the provider."),
    Status(
        PENDING_UNKNOWN,
        PENDING,
        25,
        "Handed to the provider, but the worker stopped before recording its answer; "
        "settled by the provider's report, or resent or held by the tenant's policy.",
    ),
    Status(PENDING_ENROUTE, PENDING, 30, "Sent to the provider; waiting for a delivery report."),
    Status(DELIVERED_TO_OPERATOR, DELIVERED, 40, "Delivered to the operator's network."),
    Status(DELIVERED_TO_HANDSET, DELIVERED, 50, "Delivered to the recipient."),
    Status(DELIVERED_READ, DELIVERED, 60, "Delivered and read by the recipient."),
    Status(UNDELIVERABLE_NOT_DELIVERED, UNDELIVERABLE, 50, "The provider could not deliver it."),
    Status(
        UNDELIVERABLE_REJECTED_OPERATOR, UNDELIVERABLE, 50, "The operator refused to deliver it."
    ),
    Status(EXPIRED_EXPIRED, EXPIRED, 50, "Its validity passed before it could be delivered."),
    Status(REJECTED_DESTINATION, REJECTED, 50, "The provider rejected the destination."),
    Status(REJECTED_NOT_ON_CHANNEL, REJECTED, 50, "The recipient has no account on this channel."),
    Status(REJECTED_PROVIDER, REJECTED, 50, "The provider rejected the message."),
    Status(REJECTED_CONTENT, REJECTED, 50, "The provider rejected the content."),
    Status(
        REJECTED_SUPPRESSED,
        REJECTED,
        50,
        "Not sent: the recipient opted out of this channel (suppression list).",
    ),
    Status(CANCELLED_BY_CLIENT, CANCELLED, 50, "Cancelled before it was sent."),
    Status(
        CANCELLED_NOT_NEEDED,
        CANCELLED,
        50,
        "Not sent: an earlier channel of its omnimessage reached the recipient.",
    ),
]
STATUSES: dict[str, Status] = {s.name: s for s in _ALL}

# Statuses a dispatcher may claim; statuses a client may cancel.
SENDABLE = (PENDING_ACCEPTED, PENDING_WAITING_RETRY)
CANCELLABLE = (PENDING_SCHEDULED, PENDING_FAILOVER, PENDING_ACCEPTED, PENDING_WAITING_RETRY)
FINAL = tuple(s.name for s in _ALL if s.is_final)
# Internal steps that the app is not called back for.
SILENT = (PENDING_ACCEPTED, PENDING_PROCESSING, PENDING_SCHEDULED, PENDING_FAILOVER)


def get(name: str) -> Status:
    return STATUSES[name]


def group_of(name: str) -> str:
    return STATUSES[name].group


def can_move(current: str, new: str) -> bool:
    """Whether a report of `new` may replace `current` (forward only)."""
    cur, nxt = STATUSES[current], STATUSES[new]
    if nxt.rank <= cur.rank:
        return False
    # "Delivered to the operator" is not the end: the handset may still be unreachable.
    return not cur.is_final or cur.group == nxt.group or current == DELIVERED_TO_OPERATOR
