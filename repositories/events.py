"""What the repositories app tells the rest of Hub: events, kept in the
database until a worker has delivered them as Django signals (an outbox).

``image_pushed_send`` writes the event in the caller's transaction (the
push's), so the event exists exactly when the push does, and once that
transaction commits queues ``event_deliver_task``. A broker that is down
then costs time, not the event: the push is answered all the same, and
``events_resend`` (a periodic task) hands the event to the workers again.

``event_deliver`` sends the signal inside the transaction that marks the
event delivered. What receivers write commits together with that mark, or,
when a receiver raises, not at all, and the event stays to be delivered
again. So an event takes effect once, however many copies of its message
the workers are handed. Receivers run on a worker, not in the request that
made the change; they write through services, which queue any further work
on commit, and must not act on the outside world directly.

``image_pushed``: a manifest was pushed under one or more tags.
Arguments: ``repository_id``, ``digest``, ``tags`` (a list), ``pusher_id``
(None for an anonymous or unknown pusher) and ``event_id``."""

import logging
from datetime import timedelta

from django.db import DatabaseError, models, transaction
from django.dispatch import Signal
from django.utils import timezone

from hub.enqueue import enqueue_each_on_commit, enqueue_on_commit

from .models import Event

logger = logging.getLogger(__name__)

image_pushed = Signal()

SIGNALS = {Event.Kind.IMAGE_PUSHED: image_pushed}

# Events handed to the workers again in one run of the resender, oldest first.
RESEND_BATCH = 1000
# Delivered events deleted in one transaction of the pruner.
PRUNE_BATCH = 5000


def _event_record(kind, payload):
    from .tasks import event_deliver_task

    event = Event.objects.create(kind=kind, payload=payload, dispatched_at=timezone.now())
    enqueue_on_commit(event_deliver_task, event.pk)
    return event


def image_pushed_send(*, repository_id, digest, tags, pusher_id):
    """Record, in the caller's transaction, that ``digest`` was pushed to the
    repository under ``tags``; receivers hear of it once that commits."""
    return _event_record(
        Event.Kind.IMAGE_PUSHED,
        {
            "repository_id": repository_id,
            "digest": digest,
            "tags": list(tags),
            "pusher_id": pusher_id,
        },
    )


def event_deliver(*, event_id):
    """Send an event's signal and mark the event delivered, in one
    transaction. Returns True when this call delivered it, False when there
    was nothing to do: delivered already, being delivered by another worker
    right now, gone, or of a kind this version of Hub does not know.

    The event's row is locked (others' locks skipped) and then marked with a
    conditional UPDATE, which is the gate where rows cannot be locked
    (SQLite): of two deliveries at once, one sends the signal.

    A receiver that raises rolls back the mark with everything the receivers
    wrote; the failure is counted on the event and raised again, for the
    worker's log. The resender tries again later."""
    try:
        with transaction.atomic():
            event = (
                Event.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, delivered_at__isnull=True)
                .first()
            )
            if event is None:
                return False
            signal = SIGNALS.get(event.kind)
            if signal is None:
                logger.warning(
                    "Event %s is of kind %r, which no signal sends.", event.pk, event.kind
                )
                return False
            claimed = Event.objects.filter(pk=event.pk, delivered_at__isnull=True).update(
                delivered_at=timezone.now(), attempts=models.F("attempts") + 1, last_error=""
            )
            if not claimed:
                return False
            signal.send(sender=Event, event_id=event.pk, **event.payload)
    except Exception as error:
        try:
            Event.objects.filter(pk=event_id, delivered_at__isnull=True).update(
                attempts=models.F("attempts") + 1,
                last_error=f"{type(error).__name__}: {error}"[:2000],
            )
        except DatabaseError:
            logger.exception("Could not record the failed delivery of event %s.", event_id)
        raise
    return True


@transaction.atomic
def events_resend(*, older_than):
    """Hand the workers again, oldest first, the events still undelivered
    ``older_than`` seconds after they were last handed over: their message
    was lost with the broker, or the broker was down when they were written,
    or their delivery failed. Returns their ids."""
    from .tasks import event_deliver_task

    now = timezone.now()
    due = list(
        Event.objects.select_for_update(skip_locked=True)
        .filter(delivered_at__isnull=True, dispatched_at__lte=now - timedelta(seconds=older_than))
        .order_by("dispatched_at", "pk")
        .values_list("pk", flat=True)[:RESEND_BATCH]
    )
    if due:
        Event.objects.filter(pk__in=due).update(dispatched_at=now)
        enqueue_each_on_commit(event_deliver_task, [(pk,) for pk in due])
    return due


def events_prune(*, older_than_days):
    """Delete the events delivered more than ``older_than_days`` days ago, a
    batch per transaction, so no long transaction holds the table. Returns
    how many were deleted."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted = 0
    while True:
        with transaction.atomic():
            batch = list(
                Event.objects.filter(delivered_at__lt=cutoff).values_list("pk", flat=True)[
                    :PRUNE_BATCH
                ]
            )
            if not batch:
                return deleted
            deleted += Event.objects.filter(pk__in=batch).delete()[0]
