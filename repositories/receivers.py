"""What the repositories app does when a Celery worker starts."""

import logging

from celery.signals import worker_ready
from django.conf import settings

from . import blobstore

logger = logging.getLogger(__name__)


def on_worker_ready(sender, **kwargs):
    """Sweep this host's scratch files at once: a worker (re)starting is often
    the host coming back from a crash that left them. Run here, not queued,
    because the files are on this host and a queued task may run on another."""
    swept = blobstore.scratch_sweep(older_than=settings.HUB_SCRATCH_MAX_AGE)
    if swept:
        logger.info("Deleted %d scratch files that dead requests left", swept)


def connect():
    worker_ready.connect(on_worker_ready, dispatch_uid="repositories.on_worker_ready")
