"""Repository webhook deliveries whose message was lost (with the broker, or
with a worker) are sent again from the database, and a copy of a message
never sends a delivery twice. A real receiver on 127.0.0.1 counts the POSTs."""

import logging
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from builds import services
from builds.models import RepositoryWebhookDelivery
from builds.tasks import repository_webhook_deliver_task, repository_webhooks_redispatch_task
from tests.brokers import broker_down

from .test_notifications import SECRET, outcome

pytestmark = pytest.mark.django_db

Status = RepositoryWebhookDelivery.Status


@pytest.fixture
def webhook(repository, webhook_receiver):
    return services.repository_webhook_create(
        repository=repository, name="deploy", url=webhook_receiver.url, secret=SECRET
    )


@pytest.fixture
def lost_delivery(repository, webhook, owner, django_capture_on_commit_callbacks):
    """A push's delivery whose message never reached a worker."""
    with django_capture_on_commit_callbacks(execute=False):
        (delivery,) = services.repository_webhooks_notify(
            repository_id=repository.pk, tags=["latest"], pusher_id=owner.pk
        )
    return delivery


def overdue(delivery, settings, by=1):
    """Make the delivery's next attempt overdue by the redispatch delay and ``by`` seconds."""
    late = timedelta(seconds=settings.HUB_WEBHOOK_REDISPATCH_SECONDS + by)
    RepositoryWebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - late
    )


def no_more_requests(webhook_receiver, count):
    time.sleep(0.2)  # time enough for another request to arrive
    assert len(webhook_receiver.requests) == count


def test_a_lost_delivery_is_sent_once_it_is_overdue(
    lost_delivery, webhook_receiver, settings, django_capture_on_commit_callbacks
):
    settings.HUB_WEBHOOK_REDISPATCH_SECONDS = 300
    assert lost_delivery.next_attempt_at is not None
    # Not overdue yet: its message may still come.
    assert services.repository_webhooks_redispatch() == []

    overdue(lost_delivery, settings)
    with django_capture_on_commit_callbacks(execute=True):
        assert repository_webhooks_redispatch_task.apply().result == 1

    (request,) = webhook_receiver.wait_for(1)
    assert request.headers["X-Hub-Delivery"] == str(lost_delivery.pk)
    assert outcome(lost_delivery) == (Status.SUCCESS, 1, 200)
    assert lost_delivery.next_attempt_at is None
    assert services.repository_webhooks_redispatch() == []
    no_more_requests(webhook_receiver, 1)


def test_the_lost_message_turning_up_after_the_redispatch_sends_nothing(
    lost_delivery, webhook_receiver, settings, django_capture_on_commit_callbacks
):
    overdue(lost_delivery, settings)
    with django_capture_on_commit_callbacks(execute=True):
        services.repository_webhooks_redispatch()
    webhook_receiver.wait_for(1)

    # The first message was only late: it asks for the attempt made already.
    repository_webhook_deliver_task.delay(lost_delivery.pk, 1)

    assert outcome(lost_delivery) == (Status.SUCCESS, 1, 200)
    no_more_requests(webhook_receiver, 1)


def test_a_duplicate_message_does_not_send_twice(lost_delivery, webhook_receiver, settings):
    settings.HUB_WEBHOOK_RETRY_DELAYS = [10, 60]
    webhook_receiver.answer_with(500)

    first = services.repository_webhook_deliver(delivery_id=lost_delivery.pk, attempt=1)
    assert (first.delivery.status, first.delivery.attempts, first.retry_in) == (
        Status.PENDING,
        1,
        10,
    )
    assert first.delivery.next_attempt_at > timezone.now() + timedelta(seconds=9)
    # A copy of the first message, while the retry waits for its time.
    assert services.repository_webhook_deliver(delivery_id=lost_delivery.pk, attempt=1) is None
    assert len(webhook_receiver.requests) == 1

    # The retry's message, then a copy of it.
    second = services.repository_webhook_deliver(delivery_id=lost_delivery.pk, attempt=2)
    assert (second.delivery.status, second.retry_in) == (Status.SUCCESS, None)
    assert services.repository_webhook_deliver(delivery_id=lost_delivery.pk, attempt=2) is None
    assert outcome(lost_delivery) == (Status.SUCCESS, 2, 200)
    no_more_requests(webhook_receiver, 2)


def test_a_retry_the_broker_lost_is_made_once_overdue(
    lost_delivery, webhook_receiver, settings, django_capture_on_commit_callbacks
):
    webhook_receiver.answer_with(503)
    services.repository_webhook_deliver(delivery_id=lost_delivery.pk, attempt=1)
    # The retry's message is gone with the broker: only the redispatch sends it.
    assert services.repository_webhooks_redispatch() == []

    overdue(lost_delivery, settings)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.repository_webhooks_redispatch() == [lost_delivery.pk]

    webhook_receiver.wait_for(2)
    assert outcome(lost_delivery) == (Status.SUCCESS, 2, 200)
    no_more_requests(webhook_receiver, 2)


def test_an_attempt_cut_short_with_its_worker_is_made_again(
    lost_delivery, webhook_receiver, settings, django_capture_on_commit_callbacks
):
    # A worker claimed attempt 1 and died before it could record an outcome.
    RepositoryWebhookDelivery.objects.filter(pk=lost_delivery.pk).update(
        attempts=1, last_attempt_at=timezone.now()
    )
    overdue(lost_delivery, settings)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.repository_webhooks_redispatch() == [lost_delivery.pk]

    webhook_receiver.wait_for(1)
    assert outcome(lost_delivery) == (Status.SUCCESS, 2, 200)


def test_finished_deliveries_are_never_redispatched(lost_delivery, webhook_receiver, settings):
    for status in (Status.SUCCESS, Status.FAILED):
        RepositoryWebhookDelivery.objects.filter(pk=lost_delivery.pk).update(status=status)
        overdue(lost_delivery, settings, by=3600)
        assert services.repository_webhooks_redispatch() == []
    assert webhook_receiver.requests == []


def test_a_push_notified_while_the_broker_is_down_is_sent_by_the_redispatch(
    repository,
    webhook,
    owner,
    webhook_receiver,
    settings,
    django_capture_on_commit_callbacks,
    caplog,
):
    with (
        caplog.at_level(logging.WARNING, logger="hub.enqueue"),
        broker_down(),
        django_capture_on_commit_callbacks(execute=True),
    ):
        (delivery,) = services.repository_webhooks_notify(
            repository_id=repository.pk, tags=["latest"], pusher_id=owner.pk
        )

    assert "Could not queue builds.tasks.repository_webhook_deliver_task" in caplog.text
    assert outcome(delivery) == (Status.PENDING, 0, None)

    overdue(delivery, settings)
    with django_capture_on_commit_callbacks(execute=True):
        services.repository_webhooks_redispatch()

    webhook_receiver.wait_for(1)
    assert outcome(delivery) == (Status.SUCCESS, 1, 200)


def test_the_redispatch_is_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "builds.tasks.repository_webhooks_redispatch_task" in tasks
