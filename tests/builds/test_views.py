"""The Builds tab, a build's page and the log it streams, cancel and retry,
through the Django test client: what anonymous visitors, readers and admins
see, and a private repository that stays a 404 for everyone else."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from builds import services
from builds.models import Build
from repositories import services as repository_services

pytestmark = pytest.mark.django_db

BASE = "/r/ada/widget/builds"


def client_for(user=None, **kwargs):
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def build_settings(make_settings):
    return make_settings("github", source="acme/widget").settings


@pytest.fixture
def rule(build_settings):
    return build_settings.rules.get()  # the default rule: main → latest


@pytest.fixture
def reader(django_user_model, repository):
    user = django_user_model.objects.create_user("rita", "rita@example.com", "secret")
    repository_services.collaborator_set(repository=repository, user=user, permission="read")
    return user


@pytest.fixture
def stranger(django_user_model):
    return django_user_model.objects.create_user("sam", "sam@example.com", "secret")


@pytest.fixture
def private(repository):
    repository_services.repository_update(repository=repository, visibility="private")
    return repository


def queue(rule, owner):
    return services.build_trigger(rule=rule, user=owner)


def run(build, *, phase=Build.Phase.BUILDING):
    """Take a queued build as a worker would and move it to ``phase``."""
    build = services.build_claim(build_id=build.pk, worker="test-worker")
    if phase != Build.Phase.CLONING:
        build = services.build_phase_set(build=build, phase=phase)
    return build


# The Builds tab ---------------------------------------------------------------------


def test_unconfigured_tab_invites_admins_only(repository, owner, reader):
    for user in (None, reader):
        page = client_for(user).get(f"{BASE}/").content.decode()
        assert "Automated builds are not configured" in page
        assert "Configure automated builds" not in page
        assert f"{BASE}/configure/" not in page
    page = client_for(owner).get(f"{BASE}/").content.decode()
    assert "Configure automated builds" in page
    assert f'href="{BASE}/configure/"' in page


def test_timeline_lists_builds_with_status_commit_tags_and_duration(rule, owner):
    finished = run(queue(rule, owner))
    services.build_log_append(build=finished, text="STEP 1/1: FROM busybox\n")
    finished = services.build_finish(
        build=finished,
        phase=Build.Phase.SUCCESS,
        commit_sha="0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        commit_message="Serve /healthz\n\nThe load balancer probes it.",
    )
    Build.objects.filter(pk=finished.pk).update(
        cloning_at=finished.finished_at - timedelta(minutes=2, seconds=5)
    )
    waiting = queue(rule, owner)
    Build.objects.filter(pk=waiting.pk).update(
        waiting_reason="Waiting for this repository's earlier build to finish (at most 1 at once)."
    )

    response = client_for().get(f"{BASE}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert '<span class="badge phase-success">Success</span>' in page
    assert '<span class="badge phase-queued">Queued</span>' in page
    assert escape("Waiting for this repository's earlier build to finish") in page
    assert f'href="{BASE}/{finished.pk}/"' in page
    assert "0d1a26e" in page and "Serve /healthz" in page
    assert "The load balancer probes it" not in page  # the message's first line only
    assert "2m 5s" in page
    assert '<span class="badge platform">latest</span>' in page
    assert "Manual" in page and "by ada" in page
    # The chart: one bar per build, coloured by outcome, the newest at the right.
    chart = re.search(r'<figure class="build-chart">.*?</figure>', page, re.S).group(0)
    assert re.findall(r'<rect class="bar (\w+)"', chart) == ["success", "queued"]
    assert f"#{finished.pk} main: Success in 2m 5s" in chart


def test_timeline_is_paginated(rule, owner):
    builds = [queue(rule, owner) for _ in range(27)]

    first = client_for().get(f"{BASE}/").content.decode()
    second = client_for().get(f"{BASE}/?page=2").content.decode()

    assert f"{BASE}/{builds[-1].pk}/" in first and f"{BASE}/{builds[0].pk}/" not in first
    assert f"{BASE}/{builds[0].pk}/" in second and f"{BASE}/{builds[-1].pk}/" not in second
    assert "Page 2 of 2" in second
    # The chart shows the last 30 builds, whatever the page.
    assert len(re.findall(r'<rect class="bar ', first)) == 27


# A private repository -----------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "{build}/", "{build}/log?after=-1", "configure/"])
def test_private_repository_pages_are_404_to_others(private, rule, owner, reader, stranger, suffix):
    build = queue(rule, owner)
    url = f"{BASE}/{suffix.format(build=build.pk)}"
    assert client_for().get(url).status_code == 404
    assert client_for(stranger).get(url).status_code == 404
    assert client_for(owner).get(url).status_code == 200
    if suffix != "configure/":
        assert client_for(reader).get(url).status_code == 200


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_build_actions_are_for_admins(private, rule, owner, reader, stranger, action):
    build = queue(rule, owner)
    if action == "retry":
        services.build_cancel(build=build, user=owner)
    url = f"{BASE}/{build.pk}/{action}/"

    assert client_for(stranger).post(url).status_code == 404
    assert client_for(reader).post(url).status_code == 403
    assert client_for().post(url).status_code == 404
    assert Build.objects.count() == 1
    build.refresh_from_db()
    assert build.phase == (Build.Phase.QUEUED if action == "cancel" else Build.Phase.CANCELED)


def test_unknown_build_and_another_repositorys_build_are_404(rule, owner, make_settings):
    other = repository_services.repository_create(
        namespace=owner.namespace, name="other", creator=owner
    )
    other_settings = services.build_settings_create(
        repository=other, provider="github", source="acme/other", linked_user=owner
    ).settings
    other_build = services.build_trigger(rule=other_settings.rules.get(), user=owner)
    client = client_for(owner)
    assert client.get(f"{BASE}/{other_build.pk}/").status_code == 404
    assert client.get(f"{BASE}/999999/").status_code == 404
    assert client.get(f"/r/ada/other/builds/{other_build.pk}/").status_code == 200


# A build's page ---------------------------------------------------------------------------


def test_build_page_shows_phases_trigger_and_result(rule, owner):
    build = run(queue(rule, owner))
    build = services.build_phase_set(build=build, phase=Build.Phase.PUSHING)
    services.build_log_append(build=build, text="Writing manifest to image destination\n")
    build = services.build_finish(
        build=build,
        phase=Build.Phase.SUCCESS,
        image_digest="sha256:" + "ab" * 32,
        image_size=2_345_678,
        commit_sha="0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
    )

    page = client_for().get(f"{BASE}/{build.pk}/").content.decode()

    assert f"Build #{build.pk}" in page
    for label, at in [
        ("Queued", build.queued_at),
        ("Cloning", build.cloning_at),
        ("Building", build.building_at),
        ("Pushing", build.pushing_at),
        ("Success", build.finished_at),
    ]:
        assert re.search(
            rf'<span class="phase-name">{label}</span>\s*'
            rf'<time datetime="{re.escape(at.isoformat())}"',
            page,
        ), label
    assert "Manual" in page and ">ada</a>" in page
    assert "sha256:" + "ab" * 32 in page
    assert "2.2\xa0MB" in page
    assert "Writing manifest to image destination" in page
    # Finished: no polling, and only admins get a Retry button.
    assert "hx-trigger" not in page
    assert "Retry" not in page
    assert "Retry" in client_for(owner).get(f"{BASE}/{build.pk}/").content.decode()


def test_failed_build_shows_the_failing_step_before_the_log(rule, owner):
    build = run(queue(rule, owner))
    services.build_log_append(build=build, text="STEP 2/3: RUN make\nmake: *** No rule\n")
    services.build_finish(
        build=build,
        phase=Build.Phase.FAILED,
        reason="The build failed: RUN make exited with status 2.",
        failed_step="STEP 2/3: RUN make",
    )

    page = client_for().get(f"{BASE}/{build.pk}/").content.decode()

    failure = page.index("Failed at")
    assert page.index("STEP 2/3: RUN make", failure) < page.index('id="build-log"')
    assert page.index("RUN make exited with status 2", failure) < page.index('id="build-log"')
    # The reason is also the log's last line, written when the build failed.
    log = re.search(r'<pre class="build-log"[^>]*>(.*?)</pre>', page, re.S).group(1)
    assert log.endswith("RUN make exited with status 2.\n")


def test_waiting_build_says_why(rule, owner):
    build = queue(rule, owner)
    Build.objects.filter(pk=build.pk).update(waiting_reason="Waiting: ada already runs 2 builds.")
    page = client_for().get(f"{BASE}/{build.pk}/").content.decode()
    assert "Waiting: ada already runs 2 builds." in page


def test_log_is_escaped(rule, owner):
    build = run(queue(rule, owner))
    services.build_log_append(build=build, text="<script>alert(1)</script>\n")
    for url in (f"{BASE}/{build.pk}/", f"{BASE}/{build.pk}/log?after=-1"):
        page = client_for().get(url).content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# The live log --------------------------------------------------------------------------------


def poller(page):
    return re.search(r'<div id="log-poller"[^>]*>', page).group(0)


def phase_badge(page):
    """The text of the build's status badge, announced to screen readers as it changes."""
    badge = re.search(r'<span class="badge phase-\w+" id="build-phase" role="status">(\w+)<', page)
    return badge[1]


def test_running_build_page_has_the_whole_log_and_polls_after_its_last_chunk(rule, owner):
    build = run(queue(rule, owner))
    for line in ("one\n", "two\n", "three\n"):
        services.build_log_append(build=build, text=line)

    page = client_for().get(f"{BASE}/{build.pk}/").content.decode()

    # Without JavaScript, a reload shows the whole log.
    log = re.search(r'<pre class="build-log" id="build-log"[^>]*>(.*?)</pre>', page, re.S)
    assert log.group(1) == "one\ntwo\nthree\n"
    tag = poller(page)
    assert f'hx-get="{BASE}/{build.pk}/log?after=2"' in tag
    assert 'hx-trigger="every 1s"' in tag
    assert 'hx-swap="outerHTML"' in tag


def test_log_fragment_sends_only_new_chunks_and_the_status(rule, owner):
    build = run(queue(rule, owner))
    services.build_log_append(build=build, text="Cloning acme/widget\n")
    services.build_log_append(build=build, text="STEP 1/2: FROM busybox\n")
    client = client_for()

    everything = client.get(f"{BASE}/{build.pk}/log?after=-1").content.decode()
    assert "Cloning acme/widget\nSTEP 1/2: FROM busybox\n" in everything
    assert "log?after=1" in poller(everything)

    services.build_log_append(build=build, text="STEP 2/2: RUN make\n")
    response = client.get(f"{BASE}/{build.pk}/log?after=1", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    fragment = response.content.decode()
    appended = re.search(
        r'<hx-partial hx-target="#build-log" hx-swap="beforeend">(.*?)</hx-partial>', fragment, re.S
    ).group(1)
    assert appended == "STEP 2/2: RUN make\n"
    assert "Cloning acme" not in fragment
    assert 'hx-trigger="every 1s"' in poller(fragment)
    assert "log?after=2" in poller(fragment)
    assert 'hx-target="#build-status"' in fragment
    assert phase_badge(fragment) == "Building"

    # Nothing new: no log partial, the same position, still polling.
    quiet = client.get(f"{BASE}/{build.pk}/log?after=2").content.decode()
    assert 'hx-target="#build-log"' not in quiet
    assert "log?after=2" in poller(quiet)


def test_log_fragment_stops_polling_once_the_build_has_finished(rule, owner):
    build = run(queue(rule, owner))
    services.build_log_append(build=build, text="STEP 1/1: FROM busybox\n")
    services.build_finish(build=build, phase=Build.Phase.SUCCESS, image_digest="sha256:" + "c" * 64)

    fragment = client_for().get(f"{BASE}/{build.pk}/log?after=0").content.decode()

    tag = poller(fragment)
    assert "hx-trigger" not in tag and "hx-get" not in tag
    assert 'data-phase="success"' in tag
    assert phase_badge(fragment) == "Success"
    assert "sha256:" + "c" * 64 in fragment


def test_log_fragment_after_a_cancel_carries_the_note_and_stops(rule, owner):
    build = run(queue(rule, owner))
    services.build_log_append(build=build, text="working\n")
    services.build_cancel(build=build, user=owner)

    fragment = client_for().get(f"{BASE}/{build.pk}/log?after=0").content.decode()

    assert "Canceled by ada." in fragment
    assert "working" not in fragment
    assert "hx-trigger" not in poller(fragment)


@pytest.mark.parametrize("after", ["", "x", "-5"])
def test_log_fragment_reads_a_bad_position_as_the_start(rule, owner, after):
    build = run(queue(rule, owner))
    services.build_log_append(build=build, text="first\n")
    fragment = client_for().get(f"{BASE}/{build.pk}/log?after={after}").content.decode()
    assert "first\n" in fragment


# Cancel and retry ----------------------------------------------------------------------------


def test_cancel_a_queued_build(rule, owner):
    build = queue(rule, owner)

    response = client_for(owner).post(f"{BASE}/{build.pk}/cancel/", follow=True)

    build.refresh_from_db()
    assert build.phase == Build.Phase.CANCELED
    assert response.redirect_chain[-1][0] == f"{BASE}/{build.pk}/"
    assert f"Canceled build #{build.pk}." in response.content.decode()


def test_cancel_a_running_build(rule, owner):
    build = run(queue(rule, owner))
    client_for(owner).post(f"{BASE}/{build.pk}/cancel/")
    build.refresh_from_db()
    assert build.phase == Build.Phase.CANCELED
    assert build.log_text().endswith("Canceled by ada.\n")


def test_retry_queues_a_new_build_and_opens_it(rule, owner):
    build = run(queue(rule, owner))
    services.build_finish(build=build, phase=Build.Phase.FAILED, reason="network down")

    response = client_for(owner).post(f"{BASE}/{build.pk}/retry/")

    retry = Build.objects.exclude(pk=build.pk).get()
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}/{retry.pk}/"
    assert retry.phase == Build.Phase.QUEUED
    assert retry.retry_of == build and retry.requested_by == owner
    assert (retry.source_ref, retry.tags) == ("main", ["latest"])
    page = client_for(owner).get(response["Location"]).content.decode()
    assert f'retry of <a href="{BASE}/{build.pk}/">#{build.pk}</a>' in page


def test_retry_of_an_unfinished_build_is_refused(rule, owner):
    build = run(queue(rule, owner))
    response = client_for(owner).post(f"{BASE}/{build.pk}/retry/", follow=True)
    assert "Only a finished build can be run again." in response.content.decode()
    assert Build.objects.count() == 1


def test_build_actions_need_the_csrf_token(rule, owner):
    build = queue(rule, owner)
    client = client_for(owner, enforce_csrf_checks=True)
    assert client.post(f"{BASE}/{build.pk}/cancel/").status_code == 403
    build.refresh_from_db()
    assert build.phase == Build.Phase.QUEUED
    # The page's own form carries it.
    page = client.get(f"{BASE}/{build.pk}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert (
        client.post(f"{BASE}/{build.pk}/cancel/", {"csrfmiddlewaretoken": token}).status_code == 302
    )
    build.refresh_from_db()
    assert build.phase == Build.Phase.CANCELED


def test_a_running_build_shows_elapsed_time(rule, owner):
    build = run(queue(rule, owner))
    Build.objects.filter(pk=build.pk).update(cloning_at=timezone.now() - timedelta(seconds=75))
    page = client_for().get(f"{BASE}/").content.decode()
    assert re.search(r"1m 1[5-9]s <span class=\"muted small\">so far</span>", page)
