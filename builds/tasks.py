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

from hub.enqueue import RETRY_WHILE_DATABASE_DOWN

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
    """For messages an earlier version of Hub queued when an image was
    pushed. Pushes now reach builds as events (``repositories.events``,
    delivered to ``builds.receivers``), which do the same."""
    services.image_pushed_build_links(repository_id=repository_id, tags=tags)
    services.repository_webhooks_notify(repository_id=repository_id, tags=tags, pusher_id=pusher_id)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    **{**RETRY_WHILE_DATABASE_DOWN, "max_retries": None},
)
def repository_webhook_deliver_task(self, delivery_id, attempt=None):
    """Attempt number ``attempt`` at a repository webhook delivery; a failed
    one comes back for the next after the next of HUB_WEBHOOK_RETRY_DELAYS.
    A copy of a message whose attempt was made sends nothing (the service
    counts attempts). A retry the broker does not take, or an attempt cut
    short by a lost worker, is sent again by the redispatcher."""
    result = services.repository_webhook_deliver(delivery_id=delivery_id, attempt=attempt)
    if result is not None and result.retry_in is not None:
        raise self.retry(
            args=(delivery_id, result.delivery.attempts + 1), countdown=result.retry_in
        )


@shared_task
def repository_webhooks_redispatch_task():
    """Periodic: send again the deliveries whose message was lost."""
    return len(services.repository_webhooks_redispatch())
