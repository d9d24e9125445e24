"""A build's life in the services: dispatch under the limits, claim,
phases, cancel, retry, the reaper, repository links and the build token."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AccessToken
from builds import services
from builds.models import Build, BuildLink
from repositories import permissions
from repositories import services as repository_services
from repositories.models import Repository

pytestmark = pytest.mark.django_db


@pytest.fixture
def build_settings(make_settings, owner):
    created = make_settings(provider="git", source="https://140.82.112.3/ada/widget.git")
    created.settings.created_by = owner
    created.settings.save()
    return created.settings


def queue(build_settings, ref="main", **fields):
    rule = build_settings.rules.first()
    return services._build_create(
        settings=build_settings,
        rule=rule,
        tags=["latest"],
        trigger=Build.Trigger.MANUAL,
        source_type="branch",
        source_ref=ref,
        **fields,
    )


def other_repository(owner, name):
    repository = repository_services.repository_create(
        namespace=owner.namespace, name=name, creator=owner
    )
    created = services.build_settings_create(
        repository=repository, provider="git", source="https://140.82.112.3/ada/x.git"
    )
    return created.settings


def test_dispatch_hands_over_one_build_per_repository_and_says_why_the_next_waits(
    build_settings,
):
    first, second = queue(build_settings), queue(build_settings)
    dispatched = services.builds_dispatch()
    assert [build.pk for build in dispatched] == [first.pk]
    second.refresh_from_db()
    assert second.dispatched_at is None
    assert "earlier build" in second.waiting_reason

    services.build_claim(build_id=first.pk, worker="w1")
    services.build_finish(build=first, phase=Build.Phase.SUCCESS)
    assert [build.pk for build in services.builds_dispatch()] == [second.pk]
    second.refresh_from_db()
    assert second.waiting_reason == ""


def test_dispatch_keeps_a_namespace_to_its_running_limit(build_settings, owner, settings):
    settings.HUB_BUILDS_MAX_RUNNING_PER_NAMESPACE = 2
    builds = [queue(build_settings)]
    builds += [queue(other_repository(owner, f"other{i}")) for i in range(2)]
    dispatched = services.builds_dispatch()
    assert len(dispatched) == 2
    waiting = Build.objects.get(dispatched_at__isnull=True)
    assert waiting.waiting_reason == "Waiting: ada already runs 2 builds, its limit."


def test_claim_moves_a_queued_build_to_cloning_once(build_settings):
    build = queue(build_settings)
    claimed = services.build_claim(build_id=build.pk, worker="w1 pid 1")
    assert claimed.phase == Build.Phase.CLONING
    assert claimed.cloning_at is not None and claimed.worker == "w1 pid 1"


def test_a_second_copy_of_the_message_leaves_the_running_build_alone(build_settings):
    build = queue(build_settings)
    services.build_claim(build_id=build.pk, worker="w1 pid 1")
    assert services.build_claim(build_id=build.pk, worker="w2 pid 2") is None
    build.refresh_from_db()
    assert (build.phase, build.worker) == (Build.Phase.CLONING, "w1 pid 1")


def test_a_redelivered_build_whose_worker_died_is_failed_not_run_twice(build_settings):
    build = queue(build_settings)
    services.build_claim(build_id=build.pk, worker="w1 pid 1")
    assert services.build_claim(build_id=build.pk, worker="w2 pid 2", redelivered=True) is None
    build.refresh_from_db()
    assert build.phase == Build.Phase.FAILED
    assert "w1 pid 1" in build.failure_reason
    assert "stopped during cloning" in build.log_text()


def test_a_canceled_build_is_not_claimed(build_settings, owner):
    build = queue(build_settings)
    services.build_cancel(build=build, user=owner)
    build.refresh_from_db()
    assert build.phase == Build.Phase.CANCELED and build.finished_at is not None
    assert "Canceled by ada." in build.log_text()
    assert services.build_claim(build_id=build.pk, worker="w1") is None


def test_phases_are_stamped_and_a_canceled_build_cannot_move_on(build_settings, owner):
    build = queue(build_settings)
    build = services.build_claim(build_id=build.pk, worker="w1")
    build = services.build_phase_set(build=build, phase=Build.Phase.BUILDING, commit_sha="abc")
    assert build.building_at is not None and build.commit_sha == "abc"
    services.build_cancel(build=build, user=owner)
    assert services.build_heartbeat(build=build) is False
    with pytest.raises(services.BuildGone):
        services.build_phase_set(build=build, phase=Build.Phase.PUSHING)
    finished = services.build_finish(build=build, phase=Build.Phase.SUCCESS)
    assert finished.phase == Build.Phase.CANCELED


def test_the_reaper_fails_builds_whose_worker_went_silent(build_settings, settings):
    settings.HUB_BUILD_HEARTBEAT_TIMEOUT = 60
    silent, alive = queue(build_settings), queue(build_settings)
    for build in (silent, alive):
        services.build_claim(build_id=build.pk, worker="w1")
    Build.objects.filter(pk=silent.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    reaped = services.builds_reap()
    assert [build.pk for build in reaped] == [silent.pk]
    silent.refresh_from_db()
    alive.refresh_from_db()
    assert silent.phase == Build.Phase.FAILED
    assert "stopped answering during cloning" in silent.log_text()
    assert alive.phase == Build.Phase.CLONING


def test_the_reaper_hands_a_build_no_worker_started_over_again_then_gives_up(
    build_settings, settings, django_capture_on_commit_callbacks
):
    settings.HUB_BUILD_REDISPATCH_SECONDS = 600
    settings.HUB_BUILD_QUEUE_TIMEOUT = 3 * 3600
    build = queue(build_settings)
    services.builds_dispatch()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Build.objects.filter(pk=build.pk).update(dispatched_at=an_hour_ago)
    with django_capture_on_commit_callbacks() as sent:
        assert services.builds_reap() == []
    assert len(sent) == 1  # the build's message, sent again
    build.refresh_from_db()
    assert build.phase == Build.Phase.QUEUED and build.dispatched_at > an_hour_ago

    Build.objects.filter(pk=build.pk).update(
        queued_at=timezone.now() - timedelta(hours=4), dispatched_at=an_hour_ago
    )
    services.builds_reap()
    build.refresh_from_db()
    assert build.phase == Build.Phase.FAILED
    assert "No worker started this build within 3 hours" in build.failure_reason


def test_retry_builds_the_same_commit_again(build_settings, owner):
    build = queue(build_settings, commit_sha="a" * 40, commit_message="fix")
    with pytest.raises(ValidationError):
        services.build_retry(build=build, user=owner)
    services.build_cancel(build=build)
    again = services.build_retry(build=build, user=owner)
    assert again.pk != build.pk and again.retry_of == build
    assert (again.commit_sha, again.source_ref, again.tags) == ("a" * 40, "main", ["latest"])
    assert again.requested_by == owner and again.phase == Build.Phase.QUEUED


def test_trigger_builds_a_named_rule_but_not_a_pattern(build_settings, owner):
    rule = build_settings.rules.first()
    build = services.build_trigger(rule=rule, user=owner)
    assert (build.source_ref, build.tags, build.trigger) == ("main", ["latest"], "manual")
    pattern = services.build_rule_create(
        settings=build_settings, source_type="tag", source=r"/^v(.*)$/", docker_tag=r"{\1}"
    )
    with pytest.raises(ValidationError, match="pattern"):
        services.build_trigger(rule=pattern, user=owner)


def test_log_chunks_read_back_in_order_and_after_a_chunk(build_settings):
    build = queue(build_settings)
    for text in ("one\n", "two\n", "three\n"):
        services.build_log_append(build=build, text=text)
    assert build.log_text() == "one\ntwo\nthree\n"
    assert build.log_text(after_seq=0) == "two\nthree\n"
    build.refresh_from_db()
    assert build.log_size == len("one\ntwo\nthree\n")


def test_a_push_to_a_linked_repository_builds_the_named_branch_rules(build_settings, owner):
    base = repository_services.repository_create(
        namespace=owner.namespace, name="base", creator=owner
    )
    BuildLink.objects.create(settings=build_settings, upstream=base)
    services.build_rule_create(
        settings=build_settings, source_type="branch", source="/^release-.*$/", docker_tag="r"
    )
    builds = services.image_pushed_build_links(repository_id=base.pk, tags=["latest"])
    assert [(b.source_ref, b.tags, b.trigger) for b in builds] == [
        ("main", ["latest"], Build.Trigger.REPOSITORY_LINK)
    ]
    assert builds[0].linked_from == "ada/base:latest"
    # A push to the repository itself does not build it through a link.
    BuildLink.objects.create(settings=build_settings, upstream=build_settings.repository)
    assert (
        services.image_pushed_build_links(
            repository_id=build_settings.repository_id, tags=["latest"]
        )
        == []
    )


def test_a_build_token_pushes_to_its_repository_only(owner, repository):
    public = repository_services.repository_create(
        namespace=owner.namespace, name="public", creator=owner, visibility="public"
    )
    private = repository_services.repository_create(
        namespace=owner.namespace, name="private", creator=owner, visibility="private"
    )
    token, secret = account_services.access_token_create(
        user=owner,
        name="Build 1",
        scope=AccessToken.Scope.WRITE,
        kind=AccessToken.Kind.BUILD,
        repository_name=repository.full_name,
        expires_at=timezone.now() + timedelta(minutes=40),
    )
    assert secret.startswith("hub_bld_")
    assert permissions.can(token, repository, permissions.PUSH)
    assert not permissions.can(token, public, permissions.PUSH)
    assert permissions.can(token, public, permissions.PULL)
    # FROM a private image its user may read works; nothing else does there.
    assert permissions.can(token, private, permissions.PULL)
    assert permissions.allowed_actions(token, private) == [permissions.PULL]
    assert not permissions.can(token, owner.namespace, permissions.PUSH)
    assert list(Repository.objects.visible_to(token)) == [repository]
