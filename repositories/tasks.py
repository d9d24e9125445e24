from celery import shared_task
from django.conf import settings

from . import search, services


@shared_task
def upload_sweep_task():
    """Stale uploads, then the repositories abandoned pushes left: in this
    order, so that a repository whose last upload just went goes too. A push
    may take as long as an upload may stay, so both use the same age."""
    uploads = services.upload_sweep(older_than=settings.HUB_UPLOAD_MAX_AGE)
    repositories = services.repository_sweep_pending(older_than=settings.HUB_UPLOAD_MAX_AGE)
    return {"uploads": uploads, "repositories": repositories}


@shared_task
def blob_collect_garbage_task():
    return services.blob_collect_garbage(grace_seconds=settings.HUB_GC_GRACE_SECONDS)


@shared_task
def search_index_refresh_task():
    """Daily, so that pulls older than the ranking window stop counting."""
    search.search_index_refresh()
