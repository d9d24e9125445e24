"""The real thing: a push into Hub, a `celery -A hub worker` process on
Redis, and a webhook receiver on 127.0.0.1. Runs on PostgreSQL (the worker
opens the test database); skipped on SQLite."""

import json
import time

import pytest
from django.test import Client

from builds import services
from builds.models import RepositoryWebhookDelivery
from repositories import services as repository_services
from tests.helpers import basic_auth

from .conftest import sign
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
    assert "builds.tasks.image_pushed_task" in log
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
