from celery import shared_task
from django.conf import settings

from . import search, services


@shared_task
def upload_sweep_task():
    return services.upload_sweep(older_than=settings.HUB_UPLOAD_MAX_AGE)


@shared_task
def blob_collect_garbage_task():
    return services.blob_collect_garbage(grace_seconds=settings.HUB_GC_GRACE_SECONDS)


@shared_task
def search_index_refresh_task():
    """Daily, so that pulls older than the ranking window stop counting."""
    search.search_index_refresh()
