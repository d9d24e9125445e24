"""Celery tasks for builds. Each takes ids and calls one service.

``build_run_task`` runs on the ``builds`` queue with ``acks_late``: a worker
killed mid-build leaves the message to be delivered again, and the claim
then fails the build with the reason instead of leaving it running. A
build whose worker vanished without the broker noticing is failed by the
reaper once its heartbeat stops."""

import os
import socket

from celery import shared_task
from django.conf import settings

from . import pipeline, services


@shared_task
def builds_dispatch_task():
    services.builds_dispatch()


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # A backstop behind the pipeline's own timeout, which fails the build cleanly.
    soft_time_limit=settings.HUB_BUILD_TIMEOUT + 120,
    time_limit=settings.HUB_BUILD_TIMEOUT + 180,
)
def build_run_task(self, build_id):
    worker = self.request.hostname or socket.gethostname()
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    pipeline.build_run(
        build_id=build_id, worker=f"{worker} pid {os.getpid()}", redelivered=redelivered
    )


@shared_task
def builds_reap_task():
    """Periodic: fail builds whose worker is gone, then hand waiting builds on."""
    services.builds_reap()
    services.builds_dispatch()


@shared_task
def image_pushed_task(repository_id, digest, tags, pusher_id):
    """After a push: build the repositories linked to it, and notify its webhooks."""
    services.image_pushed_build_links(repository_id=repository_id, tags=tags)
    services.repository_webhooks_notify(repository_id=repository_id, tags=tags, pusher_id=pusher_id)


@shared_task(bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def repository_webhook_deliver_task(self, delivery_id):
    """One attempt at a repository webhook delivery; a failed one comes back
    after the next of HUB_WEBHOOK_RETRY_DELAYS (the service counts attempts).
    Acknowledged when done, so an attempt cut short by a lost worker is made again."""
    attempt = services.repository_webhook_deliver(delivery_id=delivery_id)
    if attempt is not None and attempt.retry_in is not None:
        raise self.retry(countdown=attempt.retry_in)
