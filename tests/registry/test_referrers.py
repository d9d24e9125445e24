"""GET /v2/<name>/referrers/<digest>."""

import pytest

from .helpers import (
    EMPTY_DATA,
    EMPTY_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    error_codes,
    image_manifest,
    index,
    sha256,
)

NAME = "alice/app"
SBOM = "application/vnd.example.sbom.v1"
SIGNATURE_CONFIG = "application/vnd.example.signature.config.v1+json"


def referrers(response):
    assert response.status_code == 200
    assert response["Content-Type"] == OCI_INDEX
    body = response.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == OCI_INDEX
    return body["manifests"]


@pytest.fixture
def subject(registry):
    return registry.push_image(NAME, "v1")


def push_referrer(registry, subject, *, config, artifact_type=None, annotations=None):
    registry.push_blob(NAME, config["data"])
    fields = {"subject": descriptor(subject.media_type, subject.payload)}
    if artifact_type:
        fields["artifactType"] = artifact_type
    if annotations:
        fields["annotations"] = annotations
    layer = f"content for {artifact_type or config['mediaType']}".encode()
    registry.push_blob(NAME, layer)
    payload = image_manifest(
        descriptor(config["mediaType"], config["data"]),
        [descriptor("application/octet-stream", layer)],
        **fields,
    )
    return registry.push(NAME, None, payload, OCI_MANIFEST)


EMPTY_CONFIG = {"mediaType": OCI_EMPTY, "data": EMPTY_DATA}


def test_unknown_digest_has_an_empty_list(registry, subject):
    response = registry.get(f"/v2/{NAME}/referrers/{sha256(b'nothing')}")

    assert referrers(response) == []
    assert "OCI-Filters-Applied" not in response


def test_an_unknown_repository_is_name_unknown(registry):
    """The spec's 200 assumes the repository is found; a missing one answers
    as every other endpoint does, so it looks like a private one."""
    response = registry.get(f"/v2/nobody/here/referrers/{sha256(b'x')}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_a_known_repository_without_referrers_has_an_empty_list(registry, subject):
    assert referrers(registry.get(f"/v2/{NAME}/referrers/{sha256(b'x')}")) == []


def test_referrers_are_listed_with_artifact_type_and_annotations(registry, subject):
    sbom = push_referrer(
        registry,
        subject,
        config=EMPTY_CONFIG,
        artifact_type=SBOM,
        annotations={"org.example.format": "spdx"},
    )

    assert referrers(registry.get(f"/v2/{NAME}/referrers/{subject.digest}")) == [
        {
            "mediaType": OCI_MANIFEST,
            "digest": sbom.digest,
            "size": len(sbom.payload),
            "artifactType": SBOM,
            "annotations": {"org.example.format": "spdx"},
        }
    ]


def test_artifact_type_falls_back_to_the_config_media_type(registry, subject):
    push_referrer(registry, subject, config={"mediaType": SIGNATURE_CONFIG, "data": b"{}"})

    [listed] = referrers(registry.get(f"/v2/{NAME}/referrers/{subject.digest}"))

    assert listed["artifactType"] == SIGNATURE_CONFIG
    assert "annotations" not in listed


def test_index_referrer_is_listed(registry, subject):
    payload = index(
        [],
        subject=descriptor(subject.media_type, subject.payload),
        artifactType=SBOM,
        annotations={"org.example.kind": "bundle"},
    )
    pushed = registry.push(NAME, None, payload, OCI_INDEX)

    [listed] = referrers(registry.get(f"/v2/{NAME}/referrers/{subject.digest}"))

    assert listed["digest"] == pushed.digest
    assert listed["mediaType"] == OCI_INDEX
    assert listed["artifactType"] == SBOM
    assert listed["annotations"] == {"org.example.kind": "bundle"}


def test_artifact_type_filter(registry, subject):
    sbom = push_referrer(registry, subject, config=EMPTY_CONFIG, artifact_type=SBOM)
    push_referrer(registry, subject, config={"mediaType": SIGNATURE_CONFIG, "data": b"{}"})

    response = registry.get(f"/v2/{NAME}/referrers/{subject.digest}?artifactType={SBOM}")

    assert [listed["digest"] for listed in referrers(response)] == [sbom.digest]
    assert response["OCI-Filters-Applied"] == "artifactType"


def test_without_filter_every_referrer_is_listed(registry, subject):
    sbom = push_referrer(registry, subject, config=EMPTY_CONFIG, artifact_type=SBOM)
    signature = push_referrer(
        registry, subject, config={"mediaType": SIGNATURE_CONFIG, "data": b"{}"}
    )

    response = registry.get(f"/v2/{NAME}/referrers/{subject.digest}")

    listed = {entry["digest"] for entry in referrers(response)}
    assert listed == {sbom.digest, signature.digest}
    assert "OCI-Filters-Applied" not in response


def test_referrers_pushed_before_their_subject_are_listed(registry):
    image_payload = registry.image_payload(NAME)
    registry.push_blob(NAME, EMPTY_DATA)
    artifact = image_manifest(
        {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        [],
        artifactType=SBOM,
        subject=descriptor(OCI_MANIFEST, image_payload),
    )
    pushed = registry.push(NAME, None, artifact, OCI_MANIFEST)
    registry.push(NAME, "v1", image_payload, OCI_MANIFEST)

    listed = referrers(registry.get(f"/v2/{NAME}/referrers/{sha256(image_payload)}"))

    assert [entry["digest"] for entry in listed] == [pushed.digest]


def test_referrers_in_other_repositories_are_not_listed(registry, subject):
    push_referrer(registry, subject, config=EMPTY_CONFIG, artifact_type=SBOM)
    registry.push_blob("bob/app", b"x")

    assert referrers(registry.get(f"/v2/bob/app/referrers/{subject.digest}")) == []


def test_deleted_referrer_is_not_listed(registry, subject):
    sbom = push_referrer(registry, subject, config=EMPTY_CONFIG, artifact_type=SBOM)

    registry.delete(f"/v2/{NAME}/manifests/{sbom.digest}")

    assert referrers(registry.get(f"/v2/{NAME}/referrers/{subject.digest}")) == []


@pytest.mark.parametrize("digest", ["latest", "sha256:abc", "sha256:" + "Z" * 64])
def test_invalid_digest_is_400(registry, subject, digest):
    response = registry.get(f"/v2/{NAME}/referrers/{digest}")

    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
