import gzip
import io
import json
import tarfile

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from repositories import blobstore
from repositories.models import PullDay, Repository

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    call_command("hub_demo")


def test_demo_fills_an_empty_hub(demo):
    names = {repo.full_name for repo in Repository.objects.select_related("namespace")}
    assert {"library/busybox", "library/hello", "acme/api", "grace/notes"} <= names
    assert Repository.objects.get(name="busybox").is_official
    assert PullDay.objects.filter(repository__name="busybox").count() == 30
    busybox = Repository.objects.get(name="busybox")
    assert busybox.pull_count == sum(busybox.pull_days.values_list("count", flat=True)) > 0
    assert busybox.star_count == 2


def test_busybox_image_holds_the_busybox_binary(demo):
    anonymous = Client()
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    manifest = anonymous.get("/v2/busybox/manifests/latest", HTTP_ACCEPT=accept).json()
    layer = manifest["layers"][0]["digest"]
    with blobstore.open_blob(layer) as handle:
        tar = tarfile.open(fileobj=io.BytesIO(gzip.decompress(handle.read())))
    assert tar.getmember("bin/busybox").size > 100_000
    assert tar.getmember("bin/sh").linkname == "busybox"


def test_hello_is_a_multi_platform_index(demo):
    accept = "application/vnd.docker.distribution.manifest.list.v2+json"
    index = Client().get("/v2/library/hello/manifests/latest", HTTP_ACCEPT=accept)
    platforms = {m["platform"]["architecture"] for m in json.loads(index.content)["manifests"]}
    assert platforms == {"amd64", "arm64"}


def test_private_demo_repository_is_hidden_from_anonymous_pulls(demo):
    assert Client().get("/v2/grace/notes/tags/list").status_code == 401


def test_demo_needs_an_empty_hub(demo):
    with pytest.raises(CommandError, match="already has repositories"):
        call_command("hub_demo")
    call_command("hub_demo", if_empty=True)  # does nothing
    assert Repository.objects.filter(name="busybox").count() == 1
