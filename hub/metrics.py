"""Prometheus metrics: what Hub counts, and the /metrics page that shows it.

Several processes serve one Hub (gunicorn's workers, the Celery workers that
`manage.py serve` starts beside them), so the values live in
prometheus_client's multiprocess mode: each process writes its own to files
under HUB_METRICS_DIR (the settings point PROMETHEUS_MULTIPROC_DIR there
before anything imports prometheus_client), and a scrape, whichever process
answers it, adds up every process's files. The web server forgets the files
of processes that are gone when it starts, and a worker's live gauges when
the worker exits (hub/gunicorn.conf.py).

The builds' gauges are read from the database at scrape time instead
(BuildsCollector), so they hold across hosts and survive restarts.

Instrumentation is one line where the thing happens: the services and the
registry's views call the metrics below; nothing here decides anything.

/metrics is not public. It answers a client whose address (REMOTE_ADDR, never
a forwarded header, which the client writes itself) is in
HUB_METRICS_NETWORKS, or one that sends ``Authorization: Bearer
<HUB_METRICS_TOKEN>``. With neither setting, the page does not exist (404).
A caller that fails both gets 401 with a Bearer challenge when a token is
configured (a scraper with the wrong token is told so), and 403 when only
networks are (no credentials would help)."""

import ipaddress
import logging
import time
from functools import wraps

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.http import Http404, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

# HTTP ---------------------------------------------------------------------

# Requests are labelled by the part of Hub they reach, told by the first path
# segment (the prefixes of hub/urls.py), never by the path itself: paths name
# repositories and digests, and a label per path would grow without bound.
# Everything else is the web pages.
ROUTE_GROUPS = {
    "v2": "registry",
    "token": "token",
    "api": "api",
    "v1": "v1",
    "-": "health",
    "metrics": "metrics",
    "static": "static",
    "admin": "admin",
    "accounts": "accounts",
    "builds": "builds",
}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "hub_http_requests",
    "HTTP requests answered, by route group, method and status.",
    ["group", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "hub_http_request_duration_seconds",
    "Time from a request's arrival to its response's headers (a streamed body "
    "is not included), by route group, method and status.",
    ["group", "method", "status"],
)


def route_group(path):
    return ROUTE_GROUPS.get(path.lstrip("/").split("/", 1)[0], "web")


class RequestMetricsMiddleware:
    """Counts and times every request. First in MIDDLEWARE, so the time
    covers the other middleware (sessions, authentication, static files)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        labels = (
            route_group(request.path_info),
            request.method if request.method in METHODS else "other",
            str(response.status_code),
        )
        HTTP_REQUESTS.labels(*labels).inc()
        HTTP_REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)
        return response


# The registry ---------------------------------------------------------------

REGISTRY_RECEIVED_BYTES = Counter(
    "hub_registry_received_bytes",
    "Blob bytes received from clients (uploads), counted as they arrive.",
)
REGISTRY_SENT_BYTES = Counter(
    "hub_registry_sent_bytes",
    "Blob bytes sent to clients. A streamed body is counted as it is sent; a "
    "whole blob handed to the kernel (sendfile) is counted in full when its "
    "response is made. Redirects and X-Accel-Redirect send nothing from Hub.",
)
REGISTRY_UPLOADS_IN_FLIGHT = Gauge(
    "hub_registry_uploads_in_flight",
    "Requests whose blob body is being received now (PATCH, PUT, monolithic POST).",
    multiprocess_mode="livesum",
)
REGISTRY_PUSHES = Counter("hub_registry_pushes", "Manifest PUTs accepted.")
REGISTRY_PULLS = Counter("hub_registry_pulls", "Manifest GETs served.")
REGISTRY_TOKENS = Counter(
    "hub_registry_tokens",
    "Answers of the registry token endpoint (/token): granted, refused "
    "(wrong credentials or token) or locked_out (too many failed log-ins).",
    ["result"],
)
CACHE_LOOKUPS = Counter(
    "hub_cache_lookups",
    "Lookups in the registry's cache, by what is looked up "
    "(repository, blob, manifest, tags) and result (hit, miss).",
    ["kind", "result"],
)


class _CountingReader:
    """A request body whose bytes are counted as they are read."""

    def __init__(self, stream, counter):
        self._stream = stream
        self._counter = counter

    def read(self, size=-1):
        data = self._stream.read(size)
        self._counter.inc(len(data))
        return data


def count_received(stream):
    """``stream``, counting what is read from it as registry bytes received."""
    return _CountingReader(stream, REGISTRY_RECEIVED_BYTES)


def cache_lookup(kind, found):
    """Count one lookup of ``kind`` that found ``found`` (None: a miss)."""
    CACHE_LOOKUPS.labels(kind, "miss" if found is None else "hit").inc()


# Builds and webhooks -----------------------------------------------------------

BUILDS_FINISHED = Counter(
    "hub_builds_finished",
    "Builds finished, by result (success, failed, canceled).",
    ["result"],
)
BUILD_SECONDS = Histogram(
    "hub_build_duration_seconds",
    "How long finished builds ran, from the start of the clone to the end, by "
    "result. A build canceled before it started is not observed.",
    ["result"],
    buckets=(10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, float("inf")),
)
WEBHOOK_DELIVERIES = Counter(
    "hub_webhook_deliveries",
    "Attempts to deliver a repository webhook, by the delivery's state after "
    "the attempt: success (a 2xx answer), pending (failed, to be tried again) "
    "or failed (failed for the last time).",
    ["result"],
)
WEBHOOKS_RECEIVED = Counter(
    "hub_webhooks_received",
    "Build webhooks received from git providers and trigger URLs, by provider "
    "(github, bitbucket, generic) and result (queued, ignored, refused, "
    "invalid, unknown_hook, error).",
    ["provider", "result"],
)
# What builds/webhooks.py answers, told by its status codes.
_WEBHOOK_RESULTS = {
    202: "queued",
    200: "ignored",
    400: "invalid",
    403: "refused",
    404: "unknown_hook",
}


def build_finished(result, duration):
    """Count a finished build; ``duration`` is a timedelta, or None for a
    build that never started."""
    BUILDS_FINISHED.labels(result).inc()
    if duration is not None:
        BUILD_SECONDS.labels(result).observe(duration.total_seconds())


def counts_received_webhooks(provider):
    """Decorate a webhook receiver view: count its answers for ``provider``."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            result = _WEBHOOK_RESULTS.get(response.status_code, "error")
            WEBHOOKS_RECEIVED.labels(provider, result).inc()
            return response

        return wrapper

    return decorate


class BuildsCollector:
    """Builds waiting and running, counted in the database when scraped:
    builds run on many hosts, and only the database sees them all."""

    def collect(self):
        from builds.models import Build

        running = (Build.Phase.CLONING, Build.Phase.BUILDING, Build.Phase.PUSHING)
        try:
            queued = Build.objects.filter(phase=Build.Phase.QUEUED).count()
            active = Build.objects.filter(phase__in=running).count()
        except DatabaseError as error:  # the rest of the page is still worth having
            logger.warning("build counts left out of /metrics: %s", error)
            return
        yield GaugeMetricFamily("hub_builds_queued", "Builds waiting for a worker.", value=queued)
        yield GaugeMetricFamily(
            "hub_builds_running", "Builds cloning, building or pushing.", value=active
        )


# The page -------------------------------------------------------------------


def _networks():
    try:
        return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.HUB_METRICS_NETWORKS]
    except ValueError as error:
        raise ImproperlyConfigured(f"HUB_METRICS_NETWORKS: {error}") from None


def _client_in_networks(request, networks):
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _bearer_token(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _refusal(request):
    """None when the caller may scrape, else the answer it gets."""
    token, networks = settings.HUB_METRICS_TOKEN, _networks()
    if not token and not networks:
        raise Http404
    if networks and _client_in_networks(request, networks):
        return None
    if token:
        presented = _bearer_token(request)
        if presented and constant_time_compare(presented, token):
            return None
        response = HttpResponse(
            "A scrape token is needed.\n", status=401, content_type="text/plain"
        )
        challenge = 'Bearer realm="hub-metrics"'
        if presented:
            challenge += ', error="invalid_token"'
        response["WWW-Authenticate"] = challenge
        return response
    return HttpResponse("Not from this address.\n", status=403, content_type="text/plain")


def scrape_registry():
    """Every process's values, and the builds counted now."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(BuildsCollector())
    return registry


@never_cache
@require_GET
def metrics_view(request):
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
