"""Signals for the layers above messaging (conversations, notifications): messaging never
imports them, they listen here.

inbound_received(sender=InboundMessage, inbound=...): a NEW inbound message was stored, sent
    inside the transaction that stored it (a provider's retry of one we have sends nothing).
message_status_changed(sender=Message, messages=[...], at=...): messages moved to a status
    the app hears about (not the silent ones), sent where their callbacks are queued, inside
    that transaction: once per message or once per bulk batch.
ticked(sender=None, now=...): the timers' tick (every DISPATCH_TICK seconds in each qcluster,
    and in the sweep); a receiver runs its own timers and returns a dict of counts.
"""

import django.dispatch

inbound_received = django.dispatch.Signal()
message_status_changed = django.dispatch.Signal()
ticked = django.dispatch.Signal()
