"""/metrics: what it counts, read back from the page as Prometheus parses it,
who may read it, and the values of several gunicorn workers added up."""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from io import BytesIO

import pytest
import requests
from django.utils import timezone
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from builds import services as build_services
from builds.models import Build
from hub import metrics
from repositories import services as repository_services
from tests.builds.conftest import webhook_receiver  # noqa: F401  (a fixture)
from tests.helpers import PASSWORD, basic_auth
from tests.registry.conftest import Registry
from tests.registry.helpers import sha256

from .stack import Hub, with_timeout

pytestmark = pytest.mark.django_db

SCRAPE_TOKEN = "scrape-token-for-the-tests"


# Reading the page ------------------------------------------------------------------


class Page:
    """The samples of one scrape, by name and labels."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def label_values(self):
        return {value for _, labels in self.samples for _, value in labels}


def scrape(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return Page(response.content.decode())


class Moves:
    """How the page's values move across a block: ``moves.by(name, **labels)``."""

    def __init__(self, client):
        self.client = client
        self.before = self.after = None

    def __enter__(self):
        self.before = scrape(self.client)
        return self

    def __exit__(self, *exc_info):
        self.after = scrape(self.client)

    def by(self, name, **labels):
        return self.after.value(name, **labels) - self.before.value(name, **labels)


@pytest.fixture
def moves(client, settings):
    settings.HUB_METRICS_TOKEN = SCRAPE_TOKEN
    settings.HUB_METRICS_NETWORKS = []
    return lambda: Moves(client)


@pytest.fixture
def registry(db, isolated_storage, registry_client, django_capture_on_commit_callbacks):
    return Registry(registry_client, django_capture_on_commit_callbacks)


# The registry ------------------------------------------------------------------------


def test_a_push_and_a_pull_move_the_registry_counters_by_what_moved(registry, moves):
    config, layers = b'{"architecture": "amd64", "os": "linux"}', (b"first layer", b"second")

    with moves() as pushed:
        registry.push_image("tester/app", "v1", config=config, layers=layers)
    with moves() as pulled:
        manifest = registry.get("/v2/tester/app/manifests/v1")
        blob = registry.get(f"/v2/tester/app/blobs/{sha256(layers[0])}")

    assert pushed.by("hub_registry_pushes_total") == 1
    assert pushed.by("hub_registry_received_bytes_total") == len(config) + sum(map(len, layers))
    assert pushed.by("hub_registry_pulls_total") == 0
    assert manifest.status_code == 200 and blob.status_code == 200
    assert pulled.by("hub_registry_pulls_total") == 1
    assert pulled.by("hub_registry_pushes_total") == 0
    # Handed to the kernel whole (sendfile): counted when the response is made.
    assert pulled.by("hub_registry_sent_bytes_total") == len(layers[0])


def test_a_chunked_upload_counts_every_chunk_received(registry, moves):
    chunks = [b"a" * 5000, b"b" * 3000, b"c" * 7]
    digest = sha256(b"".join(chunks))

    with moves() as uploaded:
        location = registry.start_upload("tester/chunky")
        for chunk in chunks[:2]:
            response = registry.patch(location, chunk)
            assert response.status_code == 202, response.content
            location = response["Location"]
        closed = registry.put(f"{location}?digest={digest}", chunks[2])

    assert closed.status_code == 201, closed.content
    assert uploaded.by("hub_registry_received_bytes_total") == sum(map(len, chunks))
    assert uploaded.after.value("hub_registry_uploads_in_flight") == 0


def test_an_upload_is_in_flight_while_its_body_is_received(registry, client, moves):
    repository = repository_services.repository_get_or_create(name="tester/slow")
    seen = []

    class Body(BytesIO):
        def read(self, size=-1):
            seen.append(scrape(client).value("hub_registry_uploads_in_flight"))
            return super().read(size)

    data = b"uploaded while watched"
    with moves():
        repository_services.blob_upload_monolithic(
            repository=repository, digest=sha256(data), stream=Body(data), length=len(data)
        )

    assert seen and set(seen) == {1}
    assert scrape(client).value("hub_registry_uploads_in_flight") == 0


def test_a_streamed_blob_is_counted_as_it_is_sent(registry, moves, settings):
    settings.HUB_BLOB_DELIVERY = "stream"
    layer = b"streamed " * 1000
    digest = registry.push_blob("tester/streamed", layer)

    with moves() as answered:
        response = registry.get(f"/v2/tester/streamed/blobs/{digest}")
    with moves() as consumed:
        body = b"".join(response.streaming_content)

    assert body == layer
    assert answered.by("hub_registry_sent_bytes_total") == 0
    assert consumed.by("hub_registry_sent_bytes_total") == len(layer)


def test_a_second_manifest_get_is_a_cache_hit(registry, moves):
    registry.push_image("tester/cached", "v1")

    with moves() as first:
        registry.get("/v2/tester/cached/manifests/v1")
    with moves() as second:
        registry.get("/v2/tester/cached/manifests/v1")

    assert first.by("hub_cache_lookups_total", kind="manifest", result="miss") == 1
    assert first.by("hub_cache_lookups_total", kind="manifest", result="hit") == 0
    assert second.by("hub_cache_lookups_total", kind="manifest", result="hit") == 1
    assert second.by("hub_cache_lookups_total", kind="manifest", result="miss") == 0
    assert second.by("hub_cache_lookups_total", kind="repository", result="hit") == 1


# Tokens ------------------------------------------------------------------------------


def test_token_grants_and_refusals_are_counted(client, alice, moves):
    token = "/token?service=hub-registry&scope=repository:alice/app:pull,push"

    with moves() as granted:
        answer = client.get(token, HTTP_AUTHORIZATION=basic_auth("alice", PASSWORD))
    with moves() as refused:
        wrong = client.get(token, HTTP_AUTHORIZATION=basic_auth("alice", "not her password"))

    assert answer.status_code == 200 and wrong.status_code == 401
    assert granted.by("hub_registry_tokens_total", result="granted") == 1
    assert granted.by("hub_registry_tokens_total", result="refused") == 0
    assert refused.by("hub_registry_tokens_total", result="refused") == 1
    assert refused.by("hub_registry_tokens_total", result="granted") == 0


# HTTP ----------------------------------------------------------------------------------


def test_requests_are_counted_and_timed_by_route_group_not_path(registry, moves):
    with moves() as served:
        registry.get("/v2/tester/nothing-here/tags/list")
        registry.client.get("/-/healthy")
        registry.client.get("/v2/", HTTP_AUTHORIZATION="")

    assert served.by("hub_http_requests_total", group="registry", method="GET", status="404") == 1
    assert served.by("hub_http_requests_total", group="registry", method="GET", status="401") == 1
    assert served.by("hub_http_requests_total", group="health", method="GET", status="200") == 1
    labels = {"group": "health", "method": "GET", "status": "200"}
    assert served.by("hub_http_request_duration_seconds_count", **labels) == 1
    assert served.by("hub_http_request_duration_seconds_sum", **labels) > 0
    assert not any("nothing-here" in value for value in served.after.label_values())


@pytest.mark.parametrize(
    "path, group",
    [
        ("/v2/a/b/manifests/latest", "registry"),
        ("/token", "token"),
        ("/api/v1/repositories/a/b", "api"),
        ("/-/ready", "health"),
        ("/metrics", "metrics"),
        ("/r/alice/app/", "web"),
        ("/", "web"),
    ],
)
def test_route_groups(path, group):
    assert metrics.route_group(path) == group


# Builds and webhooks --------------------------------------------------------------------


@pytest.fixture
def owner(make_user):
    return make_user("ada")


@pytest.fixture
def build_settings(db, owner):
    repository = repository_services.repository_create(
        namespace=owner.namespace, name="widget", creator=owner
    )
    return build_services.build_settings_create(
        repository=repository,
        provider="git",
        source="https://140.82.112.3/ada/widget.git",
        created_by=owner,
    )


def test_a_finished_build_is_counted_with_its_duration_once_committed(
    build_settings, owner, client, moves, django_capture_on_commit_callbacks
):
    rule = build_settings.settings.rules.get()

    with moves() as queued:
        build = build_services.build_trigger(rule=rule, user=owner)
    with moves() as claimed:
        build = build_services.build_claim(build_id=build.pk, worker="w1")
    Build.objects.filter(pk=build.pk).update(cloning_at=timezone.now() - timedelta(seconds=90))
    build.refresh_from_db()
    with moves() as finished:
        with django_capture_on_commit_callbacks(execute=True):
            build_services.build_finish(build=build, phase=Build.Phase.SUCCESS)
            uncommitted = scrape(client).value("hub_builds_finished_total", result="success")

    assert queued.by("hub_builds_queued") == 1
    assert (claimed.by("hub_builds_queued"), claimed.by("hub_builds_running")) == (-1, 1)
    assert finished.by("hub_builds_running") == -1
    assert uncommitted == finished.before.value("hub_builds_finished_total", result="success")
    assert finished.by("hub_builds_finished_total", result="success") == 1
    assert finished.by("hub_builds_finished_total", result="failed") == 0
    assert finished.by("hub_build_duration_seconds_count", result="success") == 1
    assert finished.by("hub_build_duration_seconds_bucket", result="success", le="60.0") == 0
    assert finished.by("hub_build_duration_seconds_bucket", result="success", le="120.0") == 1


def test_outgoing_webhook_attempts_are_counted_by_outcome(
    build_settings,
    owner,
    webhook_receiver,  # noqa: F811
    moves,
    django_capture_on_commit_callbacks,
):
    repository = build_settings.settings.repository
    build_services.repository_webhook_create(
        repository=repository, name="deploy", url=webhook_receiver.url
    )
    webhook_receiver.answer_with(500)
    with django_capture_on_commit_callbacks(execute=False):  # attempts made by hand below
        (delivery,) = build_services.repository_webhooks_notify(
            repository_id=repository.pk, tags=["latest"], pusher_id=owner.pk
        )

    with moves() as attempts:
        build_services.repository_webhook_deliver(delivery_id=delivery.pk)
        build_services.repository_webhook_deliver(delivery_id=delivery.pk, attempt=2)

    assert len(webhook_receiver.requests) == 2
    assert attempts.by("hub_webhook_deliveries_total", result="pending") == 1
    assert attempts.by("hub_webhook_deliveries_total", result="success") == 1
    assert attempts.by("hub_webhook_deliveries_total", result="failed") == 0


def test_incoming_webhooks_are_counted_by_provider_and_result(build_settings, client, moves):
    hook = build_settings.settings.hook_id
    generic = f"/builds/hooks/{hook}/generic"

    with moves() as received:
        queued = client.post(f"{generic}/{build_settings.trigger_token}", b"", "application/json")
        forged = client.post(f"{generic}/not-the-token", b"", "application/json")
        unknown = client.post(f"/builds/hooks/{uuid.uuid4()}/github", b"{}", "application/json")

    assert (queued.status_code, forged.status_code, unknown.status_code) == (202, 403, 404)
    assert received.by("hub_webhooks_received_total", provider="generic", result="queued") == 1
    assert received.by("hub_webhooks_received_total", provider="generic", result="refused") == 1
    assert received.by("hub_webhooks_received_total", provider="github", result="unknown_hook") == 1


# Who may read /metrics ---------------------------------------------------------------------


def test_without_a_token_or_networks_there_is_no_page(client, settings):
    settings.HUB_METRICS_TOKEN, settings.HUB_METRICS_NETWORKS = "", []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_the_scrape_token_opens_it(client, settings):
    settings.HUB_METRICS_TOKEN, settings.HUB_METRICS_NETWORKS = SCRAPE_TOKEN, []

    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    basic = client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("x", SCRAPE_TOKEN))
    right = client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {SCRAPE_TOKEN}")

    assert (missing.status_code, wrong.status_code, basic.status_code) == (401, 401, 401)
    assert missing["WWW-Authenticate"] == 'Bearer realm="hub-metrics"'
    assert wrong["WWW-Authenticate"] == 'Bearer realm="hub-metrics", error="invalid_token"'
    assert right.status_code == 200
    assert b"# TYPE hub_http_requests_total counter" in right.content
    assert right["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("10.1.2.3", True),
        ("127.0.0.1", True),
        ("::ffff:10.9.9.9", True),
        ("127.0.0.2", False),
        ("192.0.2.7", False),
        ("2001:db8::1", False),
    ],
)
def test_allowed_networks_open_it_by_the_connections_address(client, settings, address, allowed):
    settings.HUB_METRICS_TOKEN, settings.HUB_METRICS_NETWORKS = "", ["10.0.0.0/8", "127.0.0.1/32"]
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == (200 if allowed else 403)


def test_a_forwarded_for_header_is_not_believed(client, settings):
    settings.HUB_METRICS_TOKEN, settings.HUB_METRICS_NETWORKS = "", ["10.0.0.0/8"]
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert response.status_code == 403


def test_with_both_a_network_needs_no_token_and_others_are_challenged(client, settings):
    settings.HUB_METRICS_TOKEN, settings.HUB_METRICS_NETWORKS = SCRAPE_TOKEN, ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    outside = client.get("/metrics", REMOTE_ADDR="192.0.2.7")
    assert outside.status_code == 401
    authorized = f"Bearer {SCRAPE_TOKEN}"
    assert (
        client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION=authorized).status_code
        == 200
    )


# Several processes, as gunicorn runs Hub --------------------------------------------------


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _health_requests(path):
    """The health requests one process's counter file holds."""
    for metric in MultiProcessCollector.merge([str(path)]):
        for sample in metric.samples:
            if sample.name == "hub_http_requests_total" and sample.labels["group"] == "health":
                return sample.value
    return 0.0


@pytest.fixture
def web(tmp_path):
    hub = Hub(tmp_path, HUB_METRICS_TOKEN=SCRAPE_TOKEN, HUB_WEB_ACCESS_LOG="0")
    metrics_dir = hub.data_dir / "metrics"
    metrics_dir.mkdir()
    # What a previous run left: a process that is gone, with counts of its own.
    stale = MmapedDict(str(metrics_dir / f"counter_{_dead_pid()}.db"))
    key = mmap_key(
        "hub_http_requests",
        "hub_http_requests_total",
        ["group", "method", "status"],
        ["health", "GET", "200"],
        "HTTP requests answered, by route group, method and status.",
    )
    stale.write_value(key, 1000.0, 0.0)
    stale.close()
    with hub.gunicorn_serving(["alice"], PASSWORD):
        yield hub


def test_gunicorn_workers_values_are_added_up(web):
    metrics_dir = web.data_dir / "metrics"

    def worker_files():
        return sorted(metrics_dir.glob("counter_*.db"))

    sent = 0

    def both_served():
        """Send requests, each on a connection of its own, until each worker
        has answered some (the kernel picks the worker that accepts)."""
        nonlocal sent
        for _ in range(10):
            assert web.get("/-/healthy", headers={"Connection": "close"}).status_code == 200
            sent += 1
        counts = [_health_requests(path) for path in worker_files()]
        return len(counts) == 2 and all(counts)

    assert with_timeout(both_served, timeout=60, interval=0), [
        (path.name, _health_requests(path)) for path in worker_files()
    ]
    scraped = requests.get(
        f"{web.url}/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}, timeout=30
    )

    assert scraped.status_code == 200
    page = Page(scraped.text)
    # The stale file of a process that is gone was forgotten when gunicorn started.
    assert page.value("hub_http_requests_total", group="health", method="GET", status="200") == sent
    assert sum(_health_requests(path) for path in worker_files()) == sent


def test_an_exited_workers_live_gauges_go_and_its_counts_stay(web):
    assert web.get("/-/healthy").status_code == 200
    metrics_dir = web.data_dir / "metrics"
    gauges = sorted(metrics_dir.glob("gauge_livesum_*.db"))
    assert len(gauges) == 2
    pid = int(gauges[0].stem.rpartition("_")[2])

    os.kill(pid, signal.SIGTERM)

    assert with_timeout(lambda: not gauges[0].exists(), timeout=30)
    assert (metrics_dir / f"counter_{pid}.db").exists()
    time.sleep(0.5)  # the master starts a worker in its place
    web.wait_until_serving(auth=("alice", PASSWORD))
