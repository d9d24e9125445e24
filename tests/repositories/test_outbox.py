"""Push events kept in the database until delivered: written in the push's
transaction, delivered once as the ``image_pushed`` signal, handed over
again when their message is lost, and a push answered while the broker is
down. Real commits: the tests use the transactional database."""

import logging
import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from repositories import events, services
from repositories.models import Event, Repository, Tag
from repositories.tasks import events_prune_task, events_resend_task
from tests.brokers import broker_down
from tests.helpers import client_as
from tests.registry.helpers import (
    OCI_CONFIG,
    OCI_MANIFEST,
    descriptor,
    image_config,
    image_manifest,
    small_image_blobs,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def row_locks():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")


@pytest.fixture
def heard():
    """What ``image_pushed`` receivers are told, in order."""
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    events.image_pushed.connect(receiver, dispatch_uid="tests.heard")
    yield calls
    events.image_pushed.disconnect(dispatch_uid="tests.heard")


@pytest.fixture
def registry(staff_user, isolated_storage):
    """A registry client whose every request commits."""
    return client_as("tester", "secret")


@pytest.fixture
def repository(staff_user):
    return services.repository_create(
        namespace=staff_user.namespace, name="app", creator=staff_user
    )


def push(registry, name, tag):
    """Push a small image as ``name:tag``; returns the manifest PUT's answer."""
    manifest = small_image_blobs(registry, name)
    return registry.put(f"/v2/{name}/manifests/{tag}", manifest, content_type=OCI_MANIFEST)


class Abandoned(Exception):
    pass


def test_a_push_is_told_to_the_receivers_once(registry, repository, staff_user, heard):
    response = push(registry, "tester/app", "1.0")

    assert response.status_code == 201
    digest = response["Docker-Content-Digest"]
    (event,) = Event.objects.all()
    assert event.kind == Event.Kind.IMAGE_PUSHED
    assert event.payload == {
        "repository_id": repository.pk,
        "digest": digest,
        "tags": ["1.0"],
        "pusher_id": staff_user.pk,
    }
    assert event.delivered_at is not None
    assert event.attempts == 1
    assert heard == [
        {
            "signal": events.image_pushed,
            "event_id": event.pk,
            "repository_id": repository.pk,
            "digest": digest,
            "tags": ["1.0"],
            "pusher_id": staff_user.pk,
        }
    ]


def test_the_event_is_written_in_the_pushs_transaction(registry, repository, heard):
    manifest = small_image_blobs(registry, "tester/app")

    with transaction.atomic():
        services.manifest_put(
            repository=repository, reference="1.0", payload=manifest, content_type=OCI_MANIFEST
        )
        # Written with the tag, and nobody told before the commit.
        assert Event.objects.filter(delivered_at__isnull=True).count() == 1
        assert Tag.objects.filter(repository=repository, name="1.0").exists()
        assert heard == []

    assert len(heard) == 1
    assert Event.objects.get().delivered_at is not None


def test_a_push_rolled_back_leaves_no_event(registry, repository, heard):
    manifest = small_image_blobs(registry, "tester/app")

    with pytest.raises(Abandoned), transaction.atomic():
        services.manifest_put(
            repository=repository, reference="1.0", payload=manifest, content_type=OCI_MANIFEST
        )
        raise Abandoned

    assert not Tag.objects.filter(repository=repository).exists()
    assert not Event.objects.exists()
    assert heard == []


def test_a_push_refused_writes_no_event(registry, repository, heard):
    manifest = image_manifest(descriptor(OCI_CONFIG, image_config()), [])  # blobs never pushed
    response = registry.put("/v2/tester/app/manifests/1.0", manifest, content_type=OCI_MANIFEST)
    assert response.status_code == 400
    assert not Event.objects.exists()
    assert heard == []


def test_a_push_while_the_broker_is_down_succeeds_and_is_told_later_once(
    registry, repository, heard, caplog, settings
):
    settings.HUB_EVENT_RESEND_SECONDS = 60
    with broker_down(), caplog.at_level(logging.WARNING, logger="hub.enqueue"):
        response = push(registry, "tester/app", "1.0")

        assert response.status_code == 201, response.content
        assert Tag.objects.filter(repository=repository, name="1.0").exists()
        (event,) = Event.objects.all()
        assert event.delivered_at is None
        assert "Could not queue repositories.tasks.event_deliver_task" in caplog.text
        # The resender cannot hand it over either while the broker is down.
        assert events.events_resend(older_than=0) == [event.pk]
        assert heard == []

    event.refresh_from_db()
    assert event.delivered_at is None
    # The broker is back (the test settings run tasks in this process). An
    # event handed over a moment ago is left to its message for a while.
    assert events.events_resend(older_than=60) == []
    assert heard == []
    Event.objects.filter(pk=event.pk).update(dispatched_at=timezone.now() - timedelta(seconds=61))

    assert events_resend_task.apply().result == 1

    event.refresh_from_db()
    assert event.delivered_at is not None
    assert [call["tags"] for call in heard] == [["1.0"]]
    # Delivered: never handed over or told again.
    assert events_resend_task.apply().result == 0
    assert events.event_deliver(event_id=event.pk) is False
    assert len(heard) == 1


def test_a_receiver_that_fails_rolls_back_what_the_receivers_did(repository, heard):
    failures = ["the receiver's database went away"]

    def note_the_push(sender, repository_id, **kwargs):
        Repository.objects.filter(pk=repository_id).update(description="pushed")

    def fail_once(sender, **kwargs):
        if failures:
            raise RuntimeError(failures.pop())

    events.image_pushed.connect(note_the_push, dispatch_uid="tests.note")
    events.image_pushed.connect(fail_once, dispatch_uid="tests.fail")
    try:
        with transaction.atomic():
            event = events.image_pushed_send(
                repository_id=repository.pk,
                digest="sha256:" + "a" * 64,
                tags=["1.0"],
                pusher_id=None,
            )
        # The message was delivered on commit and failed: nothing it did stays.
        event.refresh_from_db()
        assert event.delivered_at is None
        assert event.attempts == 1
        assert event.last_error == "RuntimeError: the receiver's database went away"
        repository.refresh_from_db()
        assert repository.description == ""

        assert events.event_deliver(event_id=event.pk) is True
    finally:
        events.image_pushed.disconnect(dispatch_uid="tests.note")
        events.image_pushed.disconnect(dispatch_uid="tests.fail")

    event.refresh_from_db()
    repository.refresh_from_db()
    assert (event.attempts, event.last_error, repository.description) == (2, "", "pushed")
    assert event.delivered_at is not None
    assert len(heard) == 2  # told twice; the first time's effects were rolled back


def undelivered_event(repository, **fields):
    """An event as a push writes it, whose message was lost."""
    return Event.objects.create(
        kind=Event.Kind.IMAGE_PUSHED,
        payload={
            "repository_id": repository.pk,
            "digest": "sha256:" + "b" * 64,
            "tags": ["1.0"],
            "pusher_id": None,
        },
        dispatched_at=timezone.now(),
        **fields,
    )


def in_threads(count, target):
    """Run ``target`` in ``count`` threads at once, each with a database
    connection of its own; returns their results."""
    results = [None] * count
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait()
            results[index] = target()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_workers_delivering_one_event_at_once_deliver_it_once(row_locks, repository, heard):
    event = undelivered_event(repository)

    results = in_threads(8, lambda: events.event_deliver(event_id=event.pk))

    assert sorted(results) == [False] * 7 + [True]
    assert len(heard) == 1


def test_a_second_worker_skips_the_event_the_first_is_delivering(row_locks, repository, heard):
    event = undelivered_event(repository)
    delivering, finish = threading.Event(), threading.Event()

    def slow_receiver(sender, **kwargs):
        delivering.set()
        assert finish.wait(30)

    events.image_pushed.connect(slow_receiver, dispatch_uid="tests.slow")
    outcome = {}

    def first_worker():
        try:
            outcome["first"] = events.event_deliver(event_id=event.pk)
        finally:
            connection.close()

    first = threading.Thread(target=first_worker)
    first.start()
    try:
        assert delivering.wait(30)
        # The second copy of the message neither waits for the first nor sends.
        (second,) = in_threads(1, lambda: events.event_deliver(event_id=event.pk))
        assert second is False
    finally:
        finish.set()
        first.join(30)
        events.image_pushed.disconnect(dispatch_uid="tests.slow")

    assert outcome == {"first": True}
    assert len(heard) == 1
    event.refresh_from_db()
    assert event.attempts == 1


def test_the_resender_hands_over_only_what_waited_long_enough(repository, heard):
    now = timezone.now()
    waited = undelivered_event(repository)
    recent = undelivered_event(repository)
    delivered = undelivered_event(repository, delivered_at=now)
    Event.objects.filter(pk__in=[waited.pk, delivered.pk]).update(
        dispatched_at=now - timedelta(seconds=120)
    )
    Event.objects.filter(pk=recent.pk).update(dispatched_at=now - timedelta(seconds=30))

    assert events.events_resend(older_than=60) == [waited.pk]

    assert [call["event_id"] for call in heard] == [waited.pk]
    assert set(Event.objects.filter(delivered_at__isnull=True).values_list("pk", flat=True)) == {
        recent.pk
    }


def test_delivered_events_are_pruned_after_the_retention(repository, settings):
    settings.HUB_EVENT_RETENTION_DAYS = 7
    now = timezone.now()
    old = undelivered_event(repository, delivered_at=now - timedelta(days=8))
    kept = undelivered_event(repository, delivered_at=now - timedelta(days=6))
    undelivered = undelivered_event(repository)
    Event.objects.filter(pk=undelivered.pk).update(created_at=now - timedelta(days=30))

    assert events_prune_task.apply().result == 1

    assert set(Event.objects.values_list("pk", flat=True)) == {kept.pk, undelivered.pk}
    assert old.pk not in Event.objects.values_list("pk", flat=True)


def test_the_resender_and_the_pruner_are_scheduled():
    schedule = {
        entry["task"]: entry["schedule"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert schedule["repositories.tasks.events_resend_task"] <= 60
    assert schedule["repositories.tasks.events_prune_task"] <= 24 * 3600
