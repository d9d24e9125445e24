"""Repository names in /v2/ paths."""

import json

import pytest

from .helpers import error_codes

INVALID_NAMES = ["Upper/case", "alice/App", "a//b", "trailing-", "alice/app-", "-lead", "a..b"]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_push_to_an_invalid_name_is_400_name_invalid(registry, name):
    for response in (
        registry.post(f"/v2/{name}/blobs/uploads/"),
        registry.push_manifest(name, "latest", b"{}"),
    ):
        assert response.status_code == 400
        assert error_codes(response) == ["NAME_INVALID"]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_pull_from_an_invalid_name_is_400_name_invalid(registry, name):
    for path in ("tags/list", "manifests/latest", f"referrers/sha256:{'a' * 64}"):
        response = registry.get(f"/v2/{name}/{path}")
        assert response.status_code == 400
        assert error_codes(response) == ["NAME_INVALID"]


def test_name_longer_than_255_characters_is_invalid(registry):
    name = "a/" + "b" * 254

    response = registry.post(f"/v2/{name}/blobs/uploads/")

    assert response.status_code == 400
    assert error_codes(response) == ["NAME_INVALID"]


def test_nested_names_are_repositories(registry):
    image = registry.push_image("alice/team/app", "v1")

    assert registry.get("/v2/alice/team/app/manifests/v1").content == image.payload
    assert registry.get("/v2/alice/team/app/tags/list").json()["tags"] == ["v1"]


@pytest.mark.parametrize(
    "pushed_as, pulled_as", [("busybox", "library/busybox"), ("library/busybox", "busybox")]
)
def test_one_component_name_is_in_the_library_namespace(registry, pushed_as, pulled_as):
    image = registry.push_image(pushed_as, "latest")

    manifest = registry.get(f"/v2/{pulled_as}/manifests/latest")
    config = registry.get(f"/v2/{pulled_as}/blobs/{json.loads(image.payload)['config']['digest']}")

    assert manifest.content == image.payload
    assert config.status_code == 200
    assert registry.get(f"/v2/{pulled_as}/tags/list").json()["tags"] == ["latest"]
    assert registry.get("/v2/_catalog").json()["repositories"] == ["library/busybox"]


def test_upload_session_started_under_the_short_name_continues_under_the_long(registry):
    location = registry.start_upload("busybox")
    session = location.rsplit("/", 1)[1]

    assert registry.get(f"/v2/library/busybox/blobs/uploads/{session}").status_code == 204


def test_name_with_a_trailing_newline_is_invalid(registry):
    response = registry.post("/v2/alice/app%0A/blobs/uploads/")

    assert response.status_code == 400
    assert error_codes(response) == ["NAME_INVALID"]
