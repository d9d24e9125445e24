"""Push events reach builds through the outbox: a delivered event queues the
linked builds and the webhook deliveries once, however often its message
comes, and what a failed delivery wrote is rolled back. Builds queued while
the broker is down are answered, and handed over by the reaper later."""

import logging
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from builds import notifications, services
from builds.models import Build, BuildLink, RepositoryWebhookDelivery
from builds.tasks import builds_reap_task, image_pushed_task
from repositories import events
from repositories import services as repository_services
from repositories.models import Event
from repositories.tasks import event_deliver_task
from tests.brokers import broker_down

from .conftest import sign
from .test_notifications import SECRET

pytestmark = pytest.mark.django_db

DIGEST = "sha256:" + "c" * 64


@pytest.fixture
def linked(owner, repository, settings):
    """A repository built whenever ``repository`` is pushed. Builds stay
    queued: no namespace may run any, so no test here starts one."""
    settings.HUB_BUILDS_MAX_RUNNING_PER_NAMESPACE = 0
    downstream = repository_services.repository_create(
        namespace=owner.namespace, name="app-on-widget", creator=owner
    )
    created = services.build_settings_create(
        repository=downstream, provider="git", source="https://140.82.112.3/ada/app.git"
    )
    BuildLink.objects.create(settings=created.settings, upstream=repository)
    return downstream


@pytest.fixture
def webhook(repository, webhook_receiver):
    return services.repository_webhook_create(
        repository=repository, name="deploy", url=webhook_receiver.url, secret=SECRET
    )


@pytest.fixture
def lost_event(repository, owner, django_capture_on_commit_callbacks):
    """A push's event whose message never reached a worker."""
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        return events.image_pushed_send(
            repository_id=repository.pk, digest=DIGEST, tags=["1.0"], pusher_id=owner.pk
        )


def test_an_event_delivered_twice_builds_and_notifies_once(
    lost_event, linked, webhook, webhook_receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event_deliver_task.delay(lost_event.pk)
        event_deliver_task.delay(lost_event.pk)
        events.events_resend(older_than=0)

    (request,) = webhook_receiver.wait_for(1)
    assert request.headers["X-Hub-Signature-256"] == sign(request.body, SECRET)
    (build,) = Build.objects.all()
    assert (build.repository, build.trigger, build.linked_from) == (
        linked,
        Build.Trigger.REPOSITORY_LINK,
        "ada/widget:1.0",
    )
    assert build.phase == Build.Phase.QUEUED
    (delivery,) = RepositoryWebhookDelivery.objects.all()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("success", 1, None)
    lost_event.refresh_from_db()
    assert (lost_event.delivered_at is not None, lost_event.attempts) == (True, 1)
    time.sleep(0.2)  # time enough for a second request to arrive
    assert len(webhook_receiver.requests) == 1


def test_a_failed_delivery_leaves_nothing_and_the_next_one_does_it_all(
    lost_event,
    linked,
    webhook,
    webhook_receiver,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    real_payload = notifications.push_payload
    failures = ["the payload could not be made"]

    def push_payload(**kwargs):
        if failures:
            raise RuntimeError(failures.pop())
        return real_payload(**kwargs)

    monkeypatch.setattr(notifications, "push_payload", push_payload)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            events.event_deliver(event_id=lost_event.pk)
    # The linked build came first, and went with the failure, messages and all.
    assert callbacks == []
    assert not Build.objects.exists()
    assert not RepositoryWebhookDelivery.objects.exists()
    lost_event.refresh_from_db()
    assert (lost_event.delivered_at, lost_event.attempts) == (None, 1)
    assert lost_event.last_error == "RuntimeError: the payload could not be made"

    with django_capture_on_commit_callbacks(execute=True):
        assert events.event_deliver(event_id=lost_event.pk) is True

    webhook_receiver.wait_for(1)
    assert Build.objects.count() == 1
    assert RepositoryWebhookDelivery.objects.get().status == "success"
    lost_event.refresh_from_db()
    assert lost_event.delivered_at is not None
    assert (lost_event.attempts, lost_event.last_error) == (2, "")


def test_a_message_queued_before_events_were_kept_still_works(
    repository, owner, linked, webhook, webhook_receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image_pushed_task.delay(repository.pk, DIGEST, ["1.0"], owner.pk)

    webhook_receiver.wait_for(1)
    assert Build.objects.count() == 1
    assert not Event.objects.exists()


def test_a_trigger_is_answered_while_the_broker_is_down_and_the_reaper_hands_the_build_over(
    client, make_settings, django_capture_on_commit_callbacks, caplog
):
    created = make_settings("github")
    url = f"/builds/hooks/{created.settings.hook_id}/generic/{created.trigger_token}"

    with (
        caplog.at_level(logging.WARNING, logger="hub.enqueue"),
        broker_down(),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(url, data=b"", content_type="application/json")

    assert response.status_code == 202
    assert "Could not queue builds.tasks.builds_dispatch_task" in caplog.text
    build = Build.objects.get()
    assert (build.phase, build.dispatched_at) == (Build.Phase.QUEUED, None)

    # The broker is back: the reaper's periodic dispatch hands the build over.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        builds_reap_task.delay()
    build.refresh_from_db()
    assert build.dispatched_at is not None
    assert len(callbacks) == 1  # build_run_task, not run here


def test_a_build_whose_message_the_broker_refused_is_handed_over_again(
    make_settings, owner, settings, django_capture_on_commit_callbacks, caplog
):
    created = make_settings("git", source="https://140.82.112.3/ada/widget.git")
    rule = created.settings.rules.get()
    with django_capture_on_commit_callbacks(execute=False):
        build = services.build_trigger(rule=rule, user=owner)

    with (
        caplog.at_level(logging.WARNING, logger="hub.enqueue"),
        broker_down(),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.builds_dispatch() == [build]

    assert "Could not queue builds.tasks.build_run_task" in caplog.text
    build.refresh_from_db()
    assert build.phase == Build.Phase.QUEUED
    redispatch = timedelta(seconds=settings.HUB_BUILD_REDISPATCH_SECONDS + 1)
    Build.objects.filter(pk=build.pk).update(dispatched_at=timezone.now() - redispatch)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.builds_reap() == []
    assert len(callbacks) == 1
