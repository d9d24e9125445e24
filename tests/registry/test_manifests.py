"""GET, HEAD, PUT and DELETE /v2/<name>/manifests/<reference>."""

import json

import pytest

from repositories.models import Manifest

from .helpers import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    EMPTY_DATA,
    EMPTY_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    error_codes,
    image_config,
    image_manifest,
    index,
    platform_descriptor,
    sha256,
    sha512,
)

NAME = "alice/app"
DOCKER_ONLY = f"{DOCKER_MANIFEST}, {DOCKER_MANIFEST_LIST}"
SBOM = "application/vnd.example.sbom.v1"


# What each kind of manifest needs in the repository before it can be pushed.


def docker_manifest(registry):
    return registry.image_payload(NAME, media_type=DOCKER_MANIFEST), DOCKER_MANIFEST


def oci_manifest(registry):
    return registry.image_payload(NAME), OCI_MANIFEST


def docker_list(children):
    return index(children, media_type=DOCKER_MANIFEST_LIST), DOCKER_MANIFEST_LIST


def docker_manifest_list(registry):
    amd64 = registry.push_image(NAME, media_type=DOCKER_MANIFEST)
    arm64 = registry.push_image(NAME, media_type=DOCKER_MANIFEST, config=image_config("arm64"))
    return docker_list([platform_descriptor(arm64, "arm64"), platform_descriptor(amd64, "amd64")])


def oci_index(registry):
    amd64 = registry.push_image(NAME)
    arm64 = registry.push_image(NAME, config=image_config("arm64", variant="v8"))
    children = [
        platform_descriptor(arm64, "arm64", variant="v8"),
        platform_descriptor(amd64, "amd64"),
    ]
    return index(children), OCI_INDEX


def oci_artifact(registry, subject=None):
    sbom = b'{"packages": []}'
    registry.push_blob(NAME, EMPTY_DATA)
    registry.push_blob(NAME, sbom)
    fields = {"artifactType": SBOM, "annotations": {"org.example.kind": "sbom"}}
    if subject:
        fields["subject"] = subject
    payload = image_manifest(
        {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        [descriptor("application/spdx+json", sbom)],
        **fields,
    )
    return payload, OCI_MANIFEST


KINDS = [docker_manifest, docker_manifest_list, oci_manifest, oci_index, oci_artifact]


def assert_served(response, payload, media_type):
    assert response.status_code == 200
    assert response.content == payload
    assert response["Content-Type"] == media_type
    assert response["Docker-Content-Digest"] == sha256(payload)


# Push and pull -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_push_by_tag_then_pull_by_tag_and_digest(registry, kind):
    payload, media_type = kind(registry)

    response = registry.push_manifest(NAME, "v1", payload, media_type)

    assert response.status_code == 201
    assert response["Location"] == f"/v2/{NAME}/manifests/{sha256(payload)}"
    assert response["Docker-Content-Digest"] == sha256(payload)
    assert_served(registry.get(f"/v2/{NAME}/manifests/v1"), payload, media_type)
    assert_served(registry.get(response["Location"]), payload, media_type)


@pytest.mark.parametrize("kind", KINDS)
def test_push_by_digest(registry, kind):
    payload, media_type = kind(registry)

    response = registry.push_manifest(NAME, sha256(payload), payload, media_type)

    assert response.status_code == 201
    assert response["Location"] == f"/v2/{NAME}/manifests/{sha256(payload)}"
    assert response["Docker-Content-Digest"] == sha256(payload)
    assert_served(registry.get(f"/v2/{NAME}/manifests/{sha256(payload)}"), payload, media_type)


def test_head_manifest_answers_length_digest_and_type(registry):
    image = registry.push_image(NAME, "v1")

    for reference in ("v1", image.digest):
        response = registry.head(f"/v2/{NAME}/manifests/{reference}")
        assert response.status_code == 200
        assert response["Content-Length"] == str(len(image.payload))
        assert response["Docker-Content-Digest"] == image.digest
        assert response["Content-Type"] == OCI_MANIFEST


def test_head_manifest_sends_no_body(registry):
    image = registry.push_image(NAME, "v1")

    response = registry.view_response("HEAD", f"/v2/{NAME}/manifests/v1")

    assert response.content == b""
    assert response["Content-Length"] == str(len(image.payload))


def test_content_type_parameters_are_ignored(registry):
    payload = registry.image_payload(NAME)

    response = registry.push_manifest(NAME, "v1", payload, f"{OCI_MANIFEST}; charset=utf-8")

    assert response.status_code == 201
    assert_served(registry.get(f"/v2/{NAME}/manifests/v1"), payload, OCI_MANIFEST)


def test_manifest_without_media_type_field_takes_the_content_type(registry):
    config = image_config()
    registry.push_blob(NAME, config)
    payload = json.dumps(
        {
            "schemaVersion": 2,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [],
        }
    ).encode()

    response = registry.push_manifest(NAME, "v1", payload, OCI_MANIFEST)

    assert response.status_code == 201
    assert_served(registry.get(f"/v2/{NAME}/manifests/v1"), payload, OCI_MANIFEST)


def test_same_manifest_under_two_tags(registry):
    image = registry.push_image(NAME, "v1")

    registry.push(NAME, "latest", image.payload, image.media_type)

    for tag in ("v1", "latest"):
        assert registry.get(f"/v2/{NAME}/manifests/{tag}")["Docker-Content-Digest"] == image.digest


@pytest.mark.parametrize("reference", ["latest", sha256(b"nothing")])
def test_unknown_manifest_is_404_manifest_unknown(registry, reference):
    registry.push_image(NAME, "v1")

    response = registry.get(f"/v2/{NAME}/manifests/{reference}")

    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


def test_manifest_of_unknown_repository_is_404_name_unknown(registry):
    response = registry.get("/v2/nobody/here/manifests/latest")

    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]


def test_manifest_of_another_repository_is_not_served_by_digest(registry):
    image = registry.push_image(NAME, "v1")
    registry.push_image("bob/app", "v1", layers=(b"bob",))

    response = registry.get(f"/v2/bob/app/manifests/{image.digest}")

    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


@pytest.mark.parametrize("reference", ["-dash", ".dot", "a" * 129, "a+b", "v1%0A"])
def test_invalid_tag_is_400(registry, reference):
    registry.push_image(NAME, "v1")

    assert registry.get(f"/v2/{NAME}/manifests/{reference}").status_code == 400
    payload = registry.image_payload(NAME)
    assert registry.push_manifest(NAME, reference, payload).status_code == 400


# Refused pushes ------------------------------------------------------------


def test_missing_config_blob_is_manifest_blob_unknown(registry):
    config = image_config()
    registry.push_blob(NAME, b"layer")
    payload = image_manifest(
        descriptor("application/vnd.oci.image.config.v1+json", config),
        [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", b"layer")],
    )

    response = registry.push_manifest(NAME, "v1", payload)

    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
    assert registry.get(f"/v2/{NAME}/manifests/v1").status_code == 404


def test_missing_layer_blob_is_manifest_blob_unknown(registry):
    payload = registry.image_payload(NAME, layers=(b"pushed",))
    document = json.loads(payload)
    document["layers"].append(descriptor(document["layers"][0]["mediaType"], b"never pushed"))

    response = registry.push_manifest(NAME, "v1", json.dumps(document).encode())

    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


def test_blob_held_only_by_another_repository_is_manifest_blob_unknown(registry):
    payload = registry.image_payload("bob/app")
    registry.push_blob(NAME, b"something")

    response = registry.push_manifest(NAME, "v1", payload)

    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


def test_missing_child_manifest_is_manifest_blob_unknown(registry):
    pushed = registry.push_image(NAME)
    never = registry.image_payload(NAME, config=image_config("arm64"))
    children = [
        platform_descriptor(pushed, "amd64"),
        descriptor(OCI_MANIFEST, never, platform={"os": "linux", "architecture": "arm64"}),
    ]

    response = registry.push_manifest(NAME, "v1", index(children), OCI_INDEX)

    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


def test_child_manifest_of_another_repository_is_manifest_blob_unknown(registry):
    pushed = registry.push_image("bob/app")
    registry.push_blob(NAME, b"something")

    payload = index([platform_descriptor(pushed, "amd64")])
    response = registry.push_manifest(NAME, "v1", payload, OCI_INDEX)

    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"\xff\xfe{}",
        b"[]",
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}',
        b'{"schemaVersion": 3, "mediaType": "application/vnd.oci.image.index.v1+json",'
        b' "manifests": []}',
    ],
)
def test_malformed_manifest_is_manifest_invalid(registry, payload):
    response = registry.push_manifest(NAME, "v1", payload)

    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_INVALID"]


def test_media_type_differing_from_content_type_is_manifest_invalid(registry):
    payload = registry.image_payload(NAME, media_type=OCI_MANIFEST)

    response = registry.push_manifest(NAME, "v1", payload, DOCKER_MANIFEST)

    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_INVALID"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/json",
    ],
)
def test_schema1_is_refused(registry, content_type):
    payload = json.dumps(
        {
            "schemaVersion": 1,
            "name": NAME,
            "tag": "v1",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": sha256(b"layer")}],
            "history": [{"v1Compatibility": "{}"}],
        }
    ).encode()

    response = registry.push_manifest(NAME, "v1", payload, content_type)

    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_INVALID"]


def test_manifest_over_the_size_limit_is_413(registry, settings):
    payload = registry.image_payload(NAME)
    settings.HUB_MAX_MANIFEST_SIZE = len(payload) - 1

    response = registry.push_manifest(NAME, "v1", payload)

    assert response.status_code == 413
    assert response.json()["errors"]
    assert registry.get(f"/v2/{NAME}/manifests/v1").status_code == 404


def test_manifest_at_the_size_limit_is_accepted(registry, settings):
    payload = registry.image_payload(NAME)
    settings.HUB_MAX_MANIFEST_SIZE = len(payload)

    assert registry.push_manifest(NAME, "v1", payload).status_code == 201


def test_push_by_a_digest_the_body_does_not_have_is_digest_invalid(registry):
    payload = registry.image_payload(NAME)
    wrong = sha256(payload + b" ")

    response = registry.push_manifest(NAME, wrong, payload)

    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    assert registry.get(f"/v2/{NAME}/manifests/{wrong}").status_code == 404
    assert registry.get(f"/v2/{NAME}/manifests/{sha256(payload)}").status_code == 404


def test_push_by_sha512_digest(registry):
    payload = registry.image_payload(NAME)
    digest = sha512(payload)

    response = registry.push_manifest(NAME, digest, payload)

    assert response.status_code == 201
    assert response["Docker-Content-Digest"] == digest
    assert response["Location"] == f"/v2/{NAME}/manifests/{digest}"
    fetched = registry.get(f"/v2/{NAME}/manifests/{digest}")
    assert fetched.content == payload
    assert fetched["Docker-Content-Digest"] == digest


# Tags given with a push by digest, and subjects -----------------------------


def test_push_by_digest_with_tag_parameters(registry):
    payload = registry.image_payload(NAME)
    digest = sha256(payload)

    response = registry.put(
        f"/v2/{NAME}/manifests/{digest}?tag=a&tag=b", payload, content_type=OCI_MANIFEST
    )

    assert response.status_code == 201
    tags = [tag.strip() for tag in response["OCI-Tag"].split(",")]
    assert sorted(tags) == ["a", "b"]
    for tag in ("a", "b"):
        assert registry.get(f"/v2/{NAME}/manifests/{tag}").content == payload
    assert registry.get(f"/v2/{NAME}/tags/list").json()["tags"] == ["a", "b"]


def test_invalid_tag_parameter_tags_nothing(registry):
    payload = registry.image_payload(NAME)

    for bad in ("-bad", "bad%0A"):
        response = registry.put(
            f"/v2/{NAME}/manifests/{sha256(payload)}?tag=ok&tag={bad}",
            payload,
            content_type=OCI_MANIFEST,
        )
        assert response.status_code == 400
    assert registry.get(f"/v2/{NAME}/manifests/ok").status_code == 404


def test_subject_is_acknowledged_with_oci_subject(registry):
    subject = registry.push_image(NAME, "v1")
    payload, media_type = oci_artifact(registry, subject=descriptor(OCI_MANIFEST, subject.payload))

    response = registry.push_manifest(NAME, sha256(payload), payload, media_type)

    assert response.status_code == 201
    assert response["OCI-Subject"] == subject.digest


def test_subject_may_be_pushed_after_its_referrer(registry):
    absent = descriptor(OCI_MANIFEST, b"an image pushed later")
    payload, media_type = oci_artifact(registry, subject=absent)

    response = registry.push_manifest(NAME, sha256(payload), payload, media_type)

    assert response.status_code == 201
    assert response["OCI-Subject"] == absent["digest"]


def test_no_oci_subject_without_subject(registry):
    payload, media_type = oci_artifact(registry)

    response = registry.push_manifest(NAME, "v1", payload, media_type)

    assert response.status_code == 201
    assert "OCI-Subject" not in response


# Content negotiation ------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_index_asked_for_as_schema2_answers_the_default_platform(registry, method):
    payload, media_type = docker_manifest_list(registry)
    registry.push(NAME, "v1", payload, media_type)
    amd64 = json.loads(payload)["manifests"][1]

    response = registry.request(
        method, f"/v2/{NAME}/manifests/v1", headers={"Accept": DOCKER_MANIFEST}
    )

    assert response.status_code == 200
    assert response["Docker-Content-Digest"] == amd64["digest"]
    assert response["Content-Type"] == DOCKER_MANIFEST
    assert response["Content-Length"] == str(amd64["size"])
    if method == "GET":
        assert sha256(response.content) == amd64["digest"]


@pytest.mark.parametrize(
    "kind, accept",
    [
        (oci_index, None),
        (oci_index, "*/*"),
        (oci_index, f"{OCI_MANIFEST}, {OCI_INDEX}"),
        (docker_manifest_list, DOCKER_ONLY),
    ],
)
def test_index_is_served_when_accepted(registry, kind, accept):
    payload, media_type = kind(registry)
    registry.push(NAME, "v1", payload, media_type)

    headers = {"Accept": accept} if accept else {}
    response = registry.get(f"/v2/{NAME}/manifests/v1", headers=headers)

    assert_served(response, payload, media_type)


def test_oci_manifest_asked_for_with_docker_types_only_is_404(registry):
    registry.push_image(NAME, "v1")

    response = registry.get(f"/v2/{NAME}/manifests/v1", headers={"Accept": DOCKER_ONLY})

    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


def test_oci_index_of_oci_images_asked_for_with_docker_types_only_is_404(registry):
    payload, media_type = oci_index(registry)
    registry.push(NAME, "v1", payload, media_type)

    response = registry.get(f"/v2/{NAME}/manifests/v1", headers={"Accept": DOCKER_ONLY})

    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


def test_default_platform_matches_whole_components(registry, settings):
    settings.HUB_DEFAULT_PLATFORM = "linux/arm"
    arm64 = registry.push_image(NAME, media_type=DOCKER_MANIFEST, config=image_config("arm64"))
    armv7 = registry.push_image(
        NAME, media_type=DOCKER_MANIFEST, config=image_config("arm", variant="v7")
    )
    children = [
        platform_descriptor(arm64, "arm64"),
        platform_descriptor(armv7, "arm", variant="v7"),
    ]
    registry.push(NAME, "v1", *docker_list(children))

    response = registry.get(f"/v2/{NAME}/manifests/v1", headers={"Accept": DOCKER_MANIFEST})

    assert response["Docker-Content-Digest"] == armv7.digest


# Deletion and a moving tag ------------------------------------------------


def test_delete_by_digest_removes_the_manifest_and_its_tags(registry):
    image = registry.push_image(NAME, "v1")
    registry.push(NAME, "latest", image.payload, image.media_type)
    other = registry.push_image(NAME, "other", layers=(b"other",))
    for reference in ("v1", "latest", image.digest):  # warm the cache
        registry.get(f"/v2/{NAME}/manifests/{reference}")

    response = registry.delete(f"/v2/{NAME}/manifests/{image.digest}")

    assert response.status_code == 202
    for reference in ("v1", "latest", image.digest):
        gone = registry.get(f"/v2/{NAME}/manifests/{reference}")
        assert gone.status_code == 404
        assert error_codes(gone) == ["MANIFEST_UNKNOWN"]
    assert registry.get(f"/v2/{NAME}/tags/list").json()["tags"] == ["other"]
    assert registry.get(f"/v2/{NAME}/manifests/other").content == other.payload


def test_delete_by_tag_removes_only_the_tag(registry):
    image = registry.push_image(NAME, "v1")
    registry.push(NAME, "latest", image.payload, image.media_type)
    registry.get(f"/v2/{NAME}/manifests/v1")  # warm the cache

    response = registry.delete(f"/v2/{NAME}/manifests/v1")

    assert response.status_code == 202
    assert registry.get(f"/v2/{NAME}/manifests/v1").status_code == 404
    assert registry.get(f"/v2/{NAME}/manifests/latest").content == image.payload
    assert registry.get(f"/v2/{NAME}/manifests/{image.digest}").content == image.payload
    assert registry.get(f"/v2/{NAME}/tags/list").json()["tags"] == ["latest"]


@pytest.mark.parametrize("reference", ["nope", sha256(b"nope")])
def test_delete_unknown_manifest_is_404(registry, reference):
    registry.push_image(NAME, "v1")

    response = registry.delete(f"/v2/{NAME}/manifests/{reference}")

    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


def test_moved_tag_serves_the_new_manifest(registry):
    old = registry.push_image(NAME, "latest")
    assert registry.get(f"/v2/{NAME}/manifests/latest").content == old.payload

    new = registry.push_image(NAME, "latest", layers=(b"new layer",))

    response = registry.get(f"/v2/{NAME}/manifests/latest")
    assert response.content == new.payload
    assert response["Docker-Content-Digest"] == new.digest
    assert registry.head(f"/v2/{NAME}/manifests/latest")["Docker-Content-Digest"] == new.digest


def test_tag_moved_by_a_push_by_digest_serves_the_new_manifest(registry):
    registry.push_image(NAME, "latest")
    registry.get(f"/v2/{NAME}/manifests/latest")
    payload = registry.image_payload(NAME, layers=(b"new layer",))

    registry.put(
        f"/v2/{NAME}/manifests/{sha256(payload)}?tag=latest", payload, content_type=OCI_MANIFEST
    )

    assert registry.get(f"/v2/{NAME}/manifests/latest").content == payload


def test_manifest_pushed_again_after_deletion_is_served(registry):
    image = registry.push_image(NAME, "v1")
    registry.delete(f"/v2/{NAME}/manifests/{image.digest}")
    registry.get(f"/v2/{NAME}/manifests/v1")

    registry.push(NAME, "v1", image.payload, image.media_type)

    assert registry.get(f"/v2/{NAME}/manifests/v1").content == image.payload


# Facts recorded for the pages ---------------------------------------------


def stored(pushed):
    return Manifest.objects.get(digest=pushed.digest)


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_image_records_its_platform_and_layers_size(registry, media_type):
    config = image_config("arm64", variant="v8", config={"Env": ["PATH=/bin"]})
    layers = (b"a" * 10, b"b" * 32)

    image = registry.push_image(NAME, "v1", media_type=media_type, config=config, layers=layers)

    manifest = stored(image)
    assert manifest.platforms == [{"os": "linux", "architecture": "arm64", "variant": "v8"}]
    assert manifest.layers_size == 42
    assert manifest.media_type == media_type


def test_index_records_its_children_platforms_and_their_layers_size(registry):
    amd64 = registry.push_image(NAME, layers=(b"a" * 10,))
    arm64 = registry.push_image(NAME, config=image_config("arm64"), layers=(b"b" * 5, b"c" * 7))
    children = [platform_descriptor(amd64, "amd64"), platform_descriptor(arm64, "arm64")]

    pushed = registry.push(NAME, "v1", index(children), OCI_INDEX)

    manifest = stored(pushed)
    assert manifest.platforms == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux"},
    ]
    assert manifest.layers_size == 22


def test_artifact_records_no_platform(registry):
    payload, media_type = oci_artifact(registry)

    pushed = registry.push(NAME, "v1", payload, media_type)

    manifest = stored(pushed)
    assert manifest.platforms == []
    assert manifest.artifact_type == SBOM
