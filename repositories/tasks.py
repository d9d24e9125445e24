from celery import shared_task
from django.conf import settings

from hub.enqueue import RETRY_WHILE_DATABASE_DOWN

from . import events, search, services


@shared_task
def upload_sweep_task():
    """What failed and abandoned pushes leave: stale uploads, the pending
    repositories they began, upload storage nobody owns and scratch files
    (services.leftovers_sweep). Returns the counts, by kind."""
    return services.leftovers_sweep(
        upload_max_age=settings.HUB_UPLOAD_MAX_AGE, scratch_max_age=settings.HUB_SCRATCH_MAX_AGE
    )


@shared_task
def blob_collect_garbage_task():
    return services.blob_collect_garbage(grace_seconds=settings.HUB_GC_GRACE_SECONDS)


@shared_task
def search_index_refresh_task():
    """Daily, so that pulls older than the ranking window stop counting."""
    search.search_index_refresh()


@shared_task(**RETRY_WHILE_DATABASE_DOWN)
def event_deliver_task(event_id):
    """Send an event's signal to its receivers; a copy of a message for an
    event delivered already does nothing."""
    events.event_deliver(event_id=event_id)


@shared_task
def events_resend_task():
    """Periodic: hand over again the events whose message never arrived."""
    return len(events.events_resend(older_than=settings.HUB_EVENT_RESEND_SECONDS))


@shared_task
def events_prune_task():
    """Periodic: forget the events delivered long enough ago."""
    return events.events_prune(older_than_days=settings.HUB_EVENT_RETENTION_DAYS)
