"""Immutable tags through /v2/: a protected tag neither moves nor goes."""

import pytest

from accounts.models import Namespace
from repositories import immutability
from repositories.models import Repository

from .helpers import OCI_INDEX, error_codes, index, platform_descriptor

NAME = "alice/app"


def protect(pattern, *, name=NAME):
    repository = Repository.objects.get(namespace__name=name.split("/")[0], name=name.split("/")[1])
    return immutability.rule_create(repository=repository, pattern=pattern)


def protect_namespace(pattern, namespace="alice"):
    return immutability.rule_create(
        namespace=Namespace.objects.get(name=namespace), pattern=pattern
    )


def assert_denied(response, message):
    assert response.status_code == 403, response.content
    assert error_codes(response) == ["DENIED"]
    assert response.json()["errors"][0]["message"] == message


@pytest.fixture
def released(registry):
    """v1.2.3 pushed, then made immutable by the rule v*."""
    image = registry.push_image(NAME, "v1.2.3")
    protect("v*")
    return image


def test_moving_an_immutable_tag_is_denied(registry, released):
    other = registry.image_payload(NAME, layers=(b"another layer",))

    response = registry.push_manifest(NAME, "v1.2.3", other)

    assert_denied(
        response, "tag v1.2.3 is immutable in alice/app (rule 'v*'); push a new tag instead"
    )
    assert response.json()["errors"][0]["detail"] == {"tag": "v1.2.3", "rule": "v*"}
    assert registry.get(f"/v2/{NAME}/manifests/v1.2.3").content == released.payload


def test_pushing_the_same_manifest_again_is_allowed(registry, released):
    response = registry.push_manifest(NAME, "v1.2.3", released.payload, released.media_type)

    assert response.status_code == 201
    assert response["Docker-Content-Digest"] == released.digest


def test_a_new_tag_matching_a_rule_is_created_and_then_protected(registry, released):
    other = registry.push_image(NAME, "v2.0.0", layers=(b"version two",))

    assert registry.get(f"/v2/{NAME}/manifests/v2.0.0").content == other.payload
    assert registry.push_manifest(NAME, "v2.0.0", released.payload).status_code == 403


def test_tags_no_rule_matches_still_move(registry, released):
    registry.push(NAME, "latest", released.payload, released.media_type)
    other = registry.push_image(NAME, "latest", layers=(b"newer",))

    assert registry.get(f"/v2/{NAME}/manifests/latest").content == other.payload


def test_extra_tags_of_a_push_by_digest_are_protected_too(registry, released):
    other = registry.image_payload(NAME, layers=(b"another layer",))
    digest = registry.push(NAME, None, other, released.media_type).digest

    response = registry.push_manifest(NAME, f"{digest}?tag=latest&tag=v1.2.3", other)

    assert response.status_code == 403
    # Nothing of the refused push happened: not even the unprotected tag.
    assert registry.get(f"/v2/{NAME}/manifests/latest").status_code == 404


def test_deleting_an_immutable_tag_is_denied(registry, released):
    response = registry.delete(f"/v2/{NAME}/manifests/v1.2.3")

    assert_denied(
        response, "tag v1.2.3 is immutable in alice/app (rule 'v*'); it cannot be deleted"
    )
    assert registry.get(f"/v2/{NAME}/manifests/v1.2.3").status_code == 200


def test_deleting_the_manifest_an_immutable_tag_points_at_is_denied(registry, released):
    response = registry.delete(f"/v2/{NAME}/manifests/{released.digest}")

    assert_denied(
        response, "tag v1.2.3 is immutable in alice/app (rule 'v*'); it cannot be deleted"
    )
    assert registry.get(f"/v2/{NAME}/manifests/{released.digest}").status_code == 200


def test_deleting_an_image_an_immutable_index_holds_is_denied(registry):
    amd64 = registry.push_image(NAME)
    arm64 = registry.push_image(NAME, config=b'{"architecture": "arm64", "os": "linux"}')
    children = [platform_descriptor(amd64, "amd64"), platform_descriptor(arm64, "arm64")]
    registry.push(NAME, "v1", index(children), OCI_INDEX)
    protect("v1")

    assert registry.delete(f"/v2/{NAME}/manifests/{arm64.digest}").status_code == 403


def test_mutable_tags_and_manifests_are_deleted_as_before(registry, released):
    other = registry.push_image(NAME, "latest", layers=(b"newer",))

    assert registry.delete(f"/v2/{NAME}/manifests/latest").status_code == 202
    assert registry.delete(f"/v2/{NAME}/manifests/{other.digest}").status_code == 202


@pytest.mark.parametrize(
    ("pattern", "protected", "free"),
    [
        ("v*", ["v1", "v1.2.3"], ["1.0", "latest", "av1"]),
        ("release-?", ["release-1"], ["release-10", "release-"]),
        (r"/^\d+\.\d+\.\d+$/", ["1.2.3", "10.0.1"], ["1.2", "v1.2.3", "1.2.3-rc1"]),
        ("/rc/", ["1.0-rc1", "rc"], ["1.0", "RC1"]),
    ],
)
def test_globs_and_regular_expressions(registry, pattern, protected, free):
    first = registry.push_image(NAME)
    for tag in protected + free:
        registry.push(NAME, tag, first.payload, first.media_type)
    protect(pattern)
    second = registry.image_payload(NAME, layers=(b"second",))

    for tag in protected:
        assert registry.push_manifest(NAME, tag, second).status_code == 403, tag
    for tag in free:
        assert registry.push_manifest(NAME, tag, second).status_code == 201, tag


def test_namespace_rules_cover_every_repository_of_the_namespace(registry):
    app = registry.push_image(NAME, "stable")
    registry.push_image("alice/other", "stable", layers=(b"other",))
    registry.push_image("bob/app", "stable")
    protect_namespace("stable")

    response = registry.delete("/v2/alice/other/manifests/stable")

    assert_denied(
        response,
        "tag stable is immutable in alice/other (rule 'stable' of alice); it cannot be deleted",
    )
    assert registry.delete(f"/v2/{NAME}/manifests/{app.digest}").status_code == 403
    moved = registry.image_payload("alice/other", layers=(b"moved",))
    assert registry.push_manifest("alice/other", "stable", moved).status_code == 403
    assert registry.delete("/v2/bob/app/manifests/stable").status_code == 202
