import json

import pytest
from django.test import Client

from repositories import pulls
from repositories.models import PullDay, Repository
from repositories.oci import digests

pytestmark = pytest.mark.django_db

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(autouse=True)
def fresh_buffer(monkeypatch):
    monkeypatch.setattr(pulls, "_buffer", pulls.PullBuffer())


@pytest.fixture
def image(registry_client, django_capture_on_commit_callbacks):
    """A public image pushed by staff; returns its manifest URL."""
    config = b"{}"
    digest = digests.of(config)
    registry_client.post(
        f"/v2/acme/app/blobs/uploads/?digest={digest}",
        config,
        content_type="application/octet-stream",
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest, "size": 2},
        "layers": [],
    }
    # As after a real commit, the cached repository (still pending when the
    # blob was pushed) is forgotten; until then an anonymous pull is refused.
    with django_capture_on_commit_callbacks(execute=True):
        response = registry_client.put(
            "/v2/acme/app/manifests/latest", json.dumps(manifest), content_type=MANIFEST_TYPE
        )
    assert response.status_code == 201
    return "/v2/acme/app/manifests/latest"


def pull_count():
    return Repository.objects.get(name="app").pull_count


def test_gets_are_counted_per_repository_and_day_once_flushed(image):
    anonymous = Client()
    for _ in range(3):
        assert anonymous.get(image).status_code == 200
    assert pull_count() == 0  # still in memory

    pulls.pulls_flush()

    assert pull_count() == 3
    (day,) = PullDay.objects.all()
    assert day.count == 3


def test_head_is_not_a_pull(image):
    assert Client().head(image).status_code == 200
    pulls.pulls_flush()
    assert pull_count() == 0


def test_a_full_batch_is_written_by_the_request_that_fills_it(image, settings):
    settings.HUB_PULL_BATCH_SIZE = 2
    anonymous = Client()
    anonymous.get(image)
    assert pull_count() == 0
    anonymous.get(image)
    assert pull_count() == 2


def test_a_pull_costs_no_database_write(image, django_assert_num_queries):
    anonymous = Client()
    anonymous.get(image)  # warms the cache
    with django_assert_num_queries(0):
        assert anonymous.get(image).status_code == 200


def test_flushes_add_up_with_counts_already_written(image):
    anonymous = Client()
    anonymous.get(image)
    pulls.pulls_flush()
    anonymous.get(image)
    anonymous.get(image)
    pulls.pulls_flush()
    assert pull_count() == 3
    assert PullDay.objects.get().count == 3
