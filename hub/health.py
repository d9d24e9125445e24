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

The cache, storage and broker checks give up within a few seconds, even on
a service that accepts connections and never answers: a probe that waited
out a client's own retries and default timeouts (a minute per attempt for
S3, no limit at all for connecting to a Redis broker) would hold a web
worker while the service is away, and the orchestrator's probe would time
out instead of reading which service failed. The database check waits as
long as Hub's own database connections do.
"""

import copy
import logging
import secrets
import weakref

from botocore.config import Config
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from hub.celery import app as celery_app
from repositories import blobstore

logger = logging.getLogger(__name__)

# How long the storage and broker checks wait to connect and for each
# answer, in seconds. One attempt each: the next probe is the retry.
STORAGE_TIMEOUT = 2.0
BROKER_TIMEOUT = 2.0
_STORAGE_PROBE_CONFIG = Config(
    connect_timeout=STORAGE_TIMEOUT,
    read_timeout=STORAGE_TIMEOUT,
    retries={"total_max_attempts": 1},
)
# The blob storage as the storage check uses it: the same store, with the
# probe's timeouts; one per storage object (Django makes a new one when the
# STORAGES setting changes).
_probe_storages = weakref.WeakKeyDictionary()


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


def _probe_storage(storage):
    """``storage``, or for an S3 store a copy whose client tries once and
    waits STORAGE_TIMEOUT seconds at most (botocore's defaults: a minute to
    connect and a minute for each answer, and three attempts)."""
    client_config = getattr(storage, "client_config", None)
    if not isinstance(client_config, Config):  # a file system
        return storage
    probe = _probe_storages.get(storage)
    if probe is None:
        probe = copy.copy(storage)  # S3Storage's copy opens connections of its own
        probe.client_config = client_config.merge(_STORAGE_PROBE_CONFIG)
        _probe_storages[storage] = probe
    return probe


def _storage():
    _probe_storage(blobstore.blob_storage()).exists("sha256")


def _broker():
    # The Redis transport waits without limit to connect unless told
    # (socket_connect_timeout); AMQP reads connect_timeout. And one attempt:
    # kombu pauses 2 s before a second one.
    options = {
        **celery_app.conf.broker_transport_options,
        "socket_connect_timeout": BROKER_TIMEOUT,
        "socket_timeout": BROKER_TIMEOUT,
    }
    with celery_app.connection_for_write(
        connect_timeout=BROKER_TIMEOUT, transport_options=options
    ) as broker:
        broker.ensure_connection(max_retries=0)


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
