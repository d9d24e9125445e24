"""A build whose tags would move an immutable tag fails, and says why."""

import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from builds import pipeline, services
from builds.models import Build
from repositories import immutability
from repositories import services as repository_services
from tests.registry.helpers import OCI_CONFIG, OCI_LAYER, descriptor, image_config, image_manifest

pytestmark = pytest.mark.django_db(transaction=True)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def push(repository, tag, layer):
    """Push an image through the services, as the registry does; its digest."""
    config = image_config()
    for blob in (config, layer):
        repository_services.blob_upload_monolithic(
            repository=repository,
            digest=descriptor("", blob)["digest"],
            stream=io.BytesIO(blob),
            length=len(blob),
        )
    payload = image_manifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)])
    manifest, _ = repository_services.manifest_put(
        repository=repository, reference=tag, payload=payload, content_type=OCI_MANIFEST
    )
    return manifest.digest


class Builder:
    """Builds nothing; its push stores a new image under the first tag, as
    buildah's push through the registry would."""

    def __init__(self, repository):
        self.repository = repository
        self.env = SimpleNamespace(registry="hub.test")

    def build(self, **kwargs):
        pass

    def push(self, *, image, destination):
        return push(self.repository, destination.rsplit(":", 1)[1], b"the new build")

    def cleanup(self):
        pass


@pytest.fixture
def build(make_settings, owner, repository):
    build_settings = make_settings(provider="git", source="https://140.82.112.3/ada/widget.git")
    build_settings.settings.created_by = owner
    build_settings.settings.save()
    build = Build.objects.create(
        repository=repository,
        settings=build_settings.settings,
        rule=build_settings.settings.rules.first(),
        trigger=Build.Trigger.MANUAL,
        source_type="branch",
        source_ref="main",
        tags=["latest", "v1"],
    )
    return services.build_claim(build_id=build.pk, worker="test")


def test_a_build_that_would_move_an_immutable_tag_fails(build, repository, monkeypatch):
    released = push(repository, "v1", b"the release")
    immutability.rule_create(repository=repository, pattern="v*")
    run = pipeline.Pipeline(build)
    monkeypatch.setattr(run, "_clone", lambda runner: None)
    monkeypatch.setattr(run, "_locate", lambda: (Path("Dockerfile"), Path(".")))
    monkeypatch.setattr(run, "_environment", lambda dockerfile, context: {})
    monkeypatch.setattr(run, "_builder", lambda *args: Builder(repository))
    monkeypatch.setattr(run, "_hook", lambda *args: None)

    run.run()

    build.refresh_from_db()
    message = "tag v1 is immutable in ada/widget (rule 'v*'); push a new tag instead"
    assert build.phase == Build.Phase.FAILED
    assert build.failure_reason == f"Tagging v1 failed: denied: {message}"
    assert build.failed_step == "Tagging the image"
    assert f"denied: {message}" in build.log_text()
    assert repository.tags.get(name="v1").manifest.digest == released
