"""Health for load balancers, orchestrators and a container's HEALTHCHECK.

``GET /-/healthy`` answers 200 while the process serves requests at all: a
liveness probe, which restarts what fails it, so it asks nothing of the
services behind Hub (a database outage must not restart every web process).

``GET /-/ready`` asks each service Hub needs whether it answers: the
database, the cache, blob storage and the task broker. 200 when all do; 503
otherwise, naming in the body which one failed (the cause goes to the
log), so that a load balancer stops sending requests to this process until
it is back. Nothing is kept between probes: a service that
returns is seen by the next one.
"""

import logging
import secrets

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from hub.celery import app as celery_app
from repositories import blobstore

logger = logging.getLogger(__name__)

# How long the broker check waits for a connection, in seconds.
BROKER_TIMEOUT = 2.0


@never_cache
@require_GET
def healthy(request):
    return JsonResponse({"status": "healthy"})


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache():
    # A value written and read back: Hub's Redis cache answers a miss rather
    # than an error while Redis is away (hub.cache), so reading is not enough.
    key, value = f"hub:ready:{secrets.token_hex(8)}", secrets.token_hex(8)
    cache.set(key, value, timeout=10)
    try:
        if cache.get(key) != value:
            raise ConnectionError("a value written to the cache did not read back")
    finally:
        cache.delete(key)


def _storage():
    blobstore.blob_storage().exists("sha256")


def _broker():
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)


CHECKS = {"database": _database, "cache": _cache, "storage": _storage, "broker": _broker}


@never_cache
@require_GET
def ready(request):
    checks = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # any failure means not ready; the body says which
            # The cause goes to the log only: it may name internal hosts.
            logger.warning("not ready: %s: %s: %s", name, type(error).__name__, error)
            checks[name] = "unavailable"
        else:
            checks[name] = "ok"
    unavailable = [name for name, result in checks.items() if result != "ok"]
    return JsonResponse(
        {"status": "unavailable" if unavailable else "ready", "checks": checks},
        status=503 if unavailable else 200,
    )
