"""The real thing: a push into Hub, a `celery -A hub worker` process on
Redis, and a webhook receiver on 127.0.0.1. Runs on PostgreSQL (the worker
opens the test database); skipped on SQLite."""

import json
import time

import pytest
from django.db import connection
from django.test import Client

from builds import services
from builds.models import RepositoryWebhookDelivery
from repositories import services as repository_services
from repositories.models import Event
from repositories.tasks import event_deliver_task, events_resend_task
from tests.brokers import FAIL_FAST, RedisServer, tasks_sent_to
from tests.helpers import basic_auth

from .conftest import CeleryWorker, sign, worker_environment
from .test_notifications import SECRET, outcome, push_image

pytestmark = pytest.mark.django_db(transaction=True)

Status = RepositoryWebhookDelivery.Status


def wait_until_finished(queryset, count, timeout=60):
    """The deliveries once ``count`` of them are no longer pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliveries = list(queryset.order_by("pk"))
        if len(deliveries) >= count and all(d.status != Status.PENDING for d in deliveries):
            return deliveries
        time.sleep(0.1)
    raise AssertionError(f"Still pending after {timeout}s: {list(queryset.values())}")


@pytest.fixture
def pushed_repository(staff_user, webhook_receiver, isolated_storage):
    repository = repository_services.repository_create(
        namespace=staff_user.namespace, name="app", creator=staff_user
    )
    services.repository_webhook_create(
        repository=repository, name="deploy", url=webhook_receiver.url, secret=SECRET
    )
    return repository


def test_a_push_is_delivered_by_the_worker_after_a_retry(
    celery_worker_factory, pushed_repository, webhook_receiver
):
    worker = celery_worker_factory(env={"HUB_WEBHOOK_RETRY_DELAYS": "1.5,1.5"})
    webhook_receiver.answer_with(500)
    # A plain client: every request commits, and what waits for the commit
    # (the push event) queues its task on Redis for the worker.
    registry = Client(HTTP_AUTHORIZATION=basic_auth("tester", "secret"))

    push_image(registry, "tester/app", "1.0")

    (delivery,) = wait_until_finished(RepositoryWebhookDelivery.objects.all(), 1)
    assert outcome(delivery) == (Status.SUCCESS, 2, 200)
    first, second = webhook_receiver.requests
    # The retry waited for its countdown, as the worker's schedule says.
    assert second.at - first.at >= 1.4
    assert first.body == second.body
    assert second.headers["X-Hub-Signature-256"] == sign(second.body, SECRET)
    payload = json.loads(second.body)
    assert (payload["push_data"]["tag"], payload["push_data"]["pusher"]) == ("1.0", "tester")
    log = worker.log()
    assert "repositories.tasks.event_deliver_task" in log
    assert "builds.tasks.repository_webhook_deliver_task" in log
    assert "retry: Retry in 1.5s" in log


def test_the_worker_gives_up_after_the_last_retry(
    celery_worker_factory, pushed_repository, webhook_receiver
):
    celery_worker_factory(env={"HUB_WEBHOOK_RETRY_DELAYS": "0.5,0.5"})
    webhook_receiver.answer_with(503, 503, 503, 200)
    registry = Client(HTTP_AUTHORIZATION=basic_auth("tester", "secret"))

    push_image(registry, "tester/app", "1.0")

    (delivery,) = wait_until_finished(RepositoryWebhookDelivery.objects.all(), 1)
    assert outcome(delivery) == (Status.FAILED, 3, 503)
    time.sleep(1)  # no fourth attempt comes
    assert len(webhook_receiver.requests) == 3


# The broker down, then back ---------------------------------------------------------


def wait_for_log(worker, text, count, timeout=30):
    """Wait until ``text`` is in the worker's log ``count`` times."""
    deadline = time.monotonic() + timeout
    while worker.log().count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not {count} times in the log:\n{worker.log()}")
        time.sleep(0.1)


@pytest.fixture
def private_broker(tmp_path):
    """A Redis server of the test's own, not started yet: the broker is down."""
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


def test_a_push_while_the_broker_is_down_is_delivered_once_when_it_is_back(
    private_broker, pushed_repository, webhook_receiver, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("A Celery worker in its own process needs the test database on PostgreSQL.")
    (tmp_path / "worker-data").mkdir()
    environment = worker_environment(
        broker_url=private_broker.url,
        data_dir=tmp_path / "worker-data",
        HUB_BUILDS_ALLOWED_HOSTS="127.0.0.1",
        HUB_EVENT_RESEND_SECONDS="0",
    )
    worker = CeleryWorker(
        broker_url=private_broker.url,
        queues=("celery",),
        env=environment,
        log_path=tmp_path / "celery-worker.log",
        concurrency=1,
        pool="prefork",
    )
    registry = Client(HTTP_AUTHORIZATION=basic_auth("tester", "secret"))
    with tasks_sent_to(private_broker.url, **FAIL_FAST):
        # The broker is down: the push is answered, its event kept.
        push_image(registry, "tester/app", "1.0")
        (event,) = Event.objects.all()
        assert event.delivered_at is None
        assert not RepositoryWebhookDelivery.objects.exists()

        private_broker.start()
        worker.start()
        try:
            # What beat sends every 30 seconds: the worker resends the event
            # to itself, delivers it, and sends the webhook.
            events_resend_task.delay()
            (delivery,) = wait_until_finished(RepositoryWebhookDelivery.objects.all(), 1)
            assert outcome(delivery) == (Status.SUCCESS, 1, 200)
            event.refresh_from_db()
            assert (event.delivered_at is not None, event.attempts) == (True, 1)

            # Another resend and a copy of the event's message change nothing.
            events_resend_task.delay()
            event_deliver_task.delay(event.pk)
            wait_for_log(worker, "repositories.tasks.events_resend_task", 4)  # received, succeeded
            wait_for_log(worker, "repositories.tasks.event_deliver_task", 4)
            time.sleep(0.5)
        finally:
            worker.stop()
            print(f"--- log of the Celery worker {worker.nodename} ---\n{worker.log()}")
    assert RepositoryWebhookDelivery.objects.count() == 1
    (request,) = webhook_receiver.requests
    assert json.loads(request.body)["push_data"]["tag"] == "1.0"
