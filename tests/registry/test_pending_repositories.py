"""A push to a new name makes a pending repository: nobody sees it until its
first manifest, and the upload sweep deletes it when the push is abandoned."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from repositories import search, services, tasks
from repositories.models import Blob, Repository, RepositoryBlob, SearchWord, Upload
from tests.helpers import PASSWORD, client_as

from .conftest import Registry
from .helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    error_codes,
    image_config,
    image_manifest,
    sha256,
)

NAME = "alice/app"
DATA = b"the bytes of a layer"
EVERYWHERE = {"catalog", "api list", "api search", "v1 search", "page"}


@pytest.fixture
def owner(alice, django_capture_on_commit_callbacks):
    """Alice pushing to her own namespace, with her Basic credentials."""
    return Registry(client_as("alice", PASSWORD), django_capture_on_commit_callbacks)


@pytest.fixture
def max_age(settings):
    settings.HUB_UPLOAD_MAX_AGE = 3600
    return 3600


def where_alice_finds_it(alice):
    """Every place alice could come across NAME, as she sees it."""
    basic = client_as("alice", PASSWORD)
    browser = Client()
    browser.force_login(alice)
    found = set()
    if NAME in basic.get("/v2/_catalog").json()["repositories"]:
        found.add("catalog")
    listed = basic.get("/api/v1/repositories/?namespace=alice").json()["results"]
    if NAME in [repository["full_name"] for repository in listed]:
        found.add("api list")
    searched = basic.get("/api/v1/repositories/?q=app").json()["results"]
    if NAME in [repository["full_name"] for repository in searched]:
        found.add("api search")
    if NAME in [result["name"] for result in basic.get("/v1/search?q=app").json()["results"]]:
        found.add("v1 search")
    page = browser.get(f"/r/{NAME}/")
    assert page.status_code in (200, 404)
    if page.status_code == 200:
        found.add("page")
    return found


def make_old(repository, *, seconds):
    """Date the repository and everything a push left in it ``seconds`` back,
    as if the push had stopped then."""
    long_ago = timezone.now() - timezone.timedelta(seconds=seconds)
    Repository.objects.filter(pk=repository.pk).update(created_at=long_ago)
    Upload.objects.filter(repository=repository).update(updated_at=long_ago)
    links = RepositoryBlob.objects.filter(repository=repository)
    links.update(created_at=long_ago)
    Blob.objects.filter(repositoryblob__in=links).update(created_at=long_ago)


def sweep(capture_on_commit):
    """The periodic sweep, as Celery beat runs it (committing): what it did to
    uploads and repositories (it sweeps files too, which these tests leave)."""
    with capture_on_commit(execute=True):
        counts = tasks.upload_sweep_task()
    return {kind: counts[kind] for kind in ("uploads", "repositories")}


# Nobody sees a repository before its first manifest ---------------------------


def test_a_push_begun_is_nowhere_until_its_manifest(owner, alice):
    location = owner.start_upload(NAME)

    assert Repository.objects.get(namespace__name="alice", name="app").is_pending
    assert where_alice_finds_it(alice) == set()

    assert owner.put(f"{location}?digest={sha256(DATA)}", DATA).status_code == 201
    assert where_alice_finds_it(alice) == set()

    owner.push_image(NAME, "latest", layers=(DATA,))

    assert not Repository.objects.get(namespace__name="alice", name="app").is_pending
    assert where_alice_finds_it(alice) == EVERYWHERE


def test_a_monolithic_blob_or_a_mount_to_a_new_name_shows_nothing(owner, alice):
    owner.push_image("alice/base", "latest", layers=(DATA,))

    owner.push_blob(NAME, b"a config")
    mounted = owner.post(f"/v2/alice/other/blobs/uploads/?mount={sha256(DATA)}&from=alice/base")

    assert mounted.status_code == 201
    catalog = client_as("alice", PASSWORD).get("/v2/_catalog").json()["repositories"]
    assert catalog == ["alice/base"]


def test_a_search_rebuild_leaves_pending_repositories_out(owner, alice):
    owner.start_upload(NAME)

    search.search_index_rebuild()

    assert where_alice_finds_it(alice) == set()
    # Not even counted: the index holds no entry for it.
    assert client_as("alice", PASSWORD).get("/v1/search?q=app").json()["num_results"] == 0
    owner.push_image(NAME, "latest", layers=(DATA,))
    search.search_index_rebuild()
    assert where_alice_finds_it(alice) == EVERYWHERE


def test_a_refused_manifest_leaves_the_repository_pending(owner, alice):
    config = image_config()
    owner.push_blob(NAME, config)
    payload = image_manifest(
        descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, b"never pushed")]
    )

    response = owner.push_manifest(NAME, "latest", payload)

    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
    assert Repository.objects.get(namespace__name="alice", name="app").is_pending
    assert where_alice_finds_it(alice) == set()


def test_others_find_a_pending_repository_as_if_it_did_not_exist(owner, bob):
    digest = owner.push_blob(NAME, DATA)
    stranger = client_as("bob", PASSWORD)

    pending = stranger.get(f"/v2/{NAME}/blobs/{digest}")
    missing = stranger.get(f"/v2/alice/nothing/blobs/{digest}")

    assert (pending.status_code, error_codes(pending)) == (
        missing.status_code,
        error_codes(missing),
    )
    assert pending.status_code != 200
    # Its pusher reads back what it pushed.
    assert owner.get(f"/v2/{NAME}/blobs/{digest}").getvalue() == DATA


# Adopted by "new repository" ---------------------------------------------------


def test_repository_create_adopts_a_pending_repository(
    owner, alice, django_capture_on_commit_callbacks
):
    digest = owner.push_blob(NAME, DATA)
    pending = Repository.objects.get(namespace__name="alice", name="app")

    with django_capture_on_commit_callbacks(execute=True):
        repository = services.repository_create(
            namespace=alice.namespace,
            name="app",
            visibility="private",
            description="Alice's app",
            creator=alice,
        )

    assert repository.pk == pending.pk
    repository.refresh_from_db()
    assert (repository.is_pending, repository.visibility, repository.description) == (
        False,
        "private",
        "Alice's app",
    )
    assert where_alice_finds_it(alice) == EVERYWHERE
    assert owner.get(f"/v2/{NAME}/blobs/{digest}").getvalue() == DATA  # what was pushed stays
    with pytest.raises(services.RepositoryInvalid, match="already exists"):
        services.repository_create(namespace=alice.namespace, name="app")


@pytest.mark.parametrize("where", ["the new repository page", "the REST API"])
def test_creating_over_a_pending_repository_is_not_already_exists(owner, alice, where):
    owner.push_blob(NAME, DATA)
    fields = {"namespace": "alice", "name": "app", "visibility": "public", "description": "Mine"}

    if where == "the REST API":
        response = client_as("alice", PASSWORD).post(
            "/api/v1/repositories/", fields, content_type="application/json"
        )
        assert response.status_code == 201, response.content
    else:
        browser = Client()
        browser.force_login(alice)
        response = browser.post("/new/", fields)
        assert (response.status_code, response["Location"]) == (302, f"/r/{NAME}/")

    repository = Repository.objects.get(namespace__name="alice", name="app")
    assert (repository.is_pending, repository.description) == (False, "Mine")


# Swept when abandoned ------------------------------------------------------------


def test_an_abandoned_push_leaves_nothing_once_old_enough(
    owner, alice, max_age, django_capture_on_commit_callbacks
):
    digest = owner.push_blob(NAME, DATA)
    location = owner.start_upload(NAME)
    owner.patch(location, b"half of something")
    repository = Repository.objects.get(namespace__name="alice", name="app")

    assert sweep(django_capture_on_commit_callbacks) == {"uploads": 0, "repositories": 0}
    make_old(repository, seconds=max_age + 60)
    assert sweep(django_capture_on_commit_callbacks) == {"uploads": 1, "repositories": 1}

    assert not Repository.objects.filter(pk=repository.pk).exists()
    assert not RepositoryBlob.objects.exists()
    assert not Upload.objects.exists()
    # Its blob is garbage now, for the collector that was already there.
    assert services.blob_collect_garbage(grace_seconds=max_age) == 1
    assert not Blob.objects.filter(digest=digest).exists()
    # The name is free: a new push starts afresh.
    owner.push_image(NAME, "latest")
    assert where_alice_finds_it(alice) == EVERYWHERE


@pytest.mark.parametrize("activity", ["an upload under way", "a blob linked lately"])
def test_a_pending_repository_in_use_is_kept(
    owner, max_age, activity, django_capture_on_commit_callbacks
):
    location = owner.start_upload(NAME)
    repository = Repository.objects.get(namespace__name="alice", name="app")
    make_old(repository, seconds=max_age + 60)
    if activity == "an upload under way":
        owner.patch(location, b"more bytes")
    else:
        owner.delete(location)
        owner.push_blob(NAME, DATA)

    assert sweep(django_capture_on_commit_callbacks)["repositories"] == 0
    assert Repository.objects.filter(pk=repository.pk).exists()


def test_a_repository_with_content_is_never_swept(
    owner, max_age, django_capture_on_commit_callbacks
):
    owner.push_image(NAME, "latest")
    repository = Repository.objects.get(namespace__name="alice", name="app")
    owner.delete(f"/v2/{NAME}/manifests/latest")  # empty now, but it had content
    make_old(repository, seconds=max_age + 60)

    assert sweep(django_capture_on_commit_callbacks)["repositories"] == 0
    assert Repository.objects.filter(pk=repository.pk).exists()


def test_a_push_survives_a_sweep_while_it_is_not_stale(
    owner, alice, max_age, django_capture_on_commit_callbacks
):
    location = owner.start_upload(NAME)
    owner.patch(location, DATA)
    repository = Repository.objects.get(namespace__name="alice", name="app")
    make_old(repository, seconds=max_age + 60)  # a push begun long ago...
    owner.patch(location, b"!")  # ...that is still sending

    assert sweep(django_capture_on_commit_callbacks) == {"uploads": 0, "repositories": 0}

    assert owner.put(f"{location}?digest={sha256(DATA + b'!')}").status_code == 201
    owner.push_image(NAME, "latest", layers=(DATA + b"!",))
    assert where_alice_finds_it(alice) == EVERYWHERE


def test_collect_garbage_reports_abandoned_repositories(owner, max_age, capsys):
    owner.push_blob(NAME, DATA)
    make_old(Repository.objects.get(namespace__name="alice", name="app"), seconds=max_age + 60)

    call_command("collect_garbage", grace=max_age)

    assert "Deleted 1 blobs, 0 stale uploads and 1 abandoned repositories." in (
        capsys.readouterr().out
    )
    assert not Repository.objects.filter(name="app").exists()


def test_a_manifest_pushed_by_digest_makes_it_appear_too(owner, alice):
    payload = owner.image_payload(NAME)
    assert where_alice_finds_it(alice) == set()

    pushed = owner.push(NAME, None, payload, OCI_MANIFEST)

    assert where_alice_finds_it(alice) == EVERYWHERE
    assert owner.get(f"/v2/{NAME}/manifests/{pushed.digest}").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_racing_first_manifests_all_land_and_index_it_once(owner):
    """Concurrent first pushes (a multi-platform push, say) each find the
    repository pending; one flips it, and none fails for it."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    payload = owner.image_payload(NAME)
    tags = ["one", "two", "three", "four"]
    barrier = threading.Barrier(len(tags))
    statuses = {}

    def push(tag):
        try:
            client = client_as("alice", PASSWORD)
            barrier.wait()
            response = client.put(f"/v2/{NAME}/manifests/{tag}", payload, content_type=OCI_MANIFEST)
            statuses[tag] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=push, args=(tag,)) for tag in tags]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == dict.fromkeys(tags, 201)
    repository = Repository.objects.get(namespace__name="alice", name="app")
    assert not repository.is_pending
    assert sorted(repository.tags.values_list("name", flat=True)) == sorted(tags)
    assert SearchWord.objects.get(word="app").count == 1
