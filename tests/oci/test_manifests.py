import copy
import json

import pytest

from repositories.oci import manifests
from repositories.oci.manifests import ManifestInvalid, ManifestUnsupported, parse

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64

IMAGE = {
    "schemaVersion": 2,
    "mediaType": OCI_MANIFEST,
    "config": {"mediaType": OCI_CONFIG, "digest": D1, "size": 7},
    "layers": [
        {"mediaType": OCI_LAYER, "digest": D2, "size": 10},
        {"mediaType": OCI_LAYER, "digest": D3, "size": 32},
    ],
}
INDEX = {
    "schemaVersion": 2,
    "mediaType": OCI_INDEX,
    "manifests": [
        {
            "mediaType": OCI_MANIFEST,
            "digest": D1,
            "size": 500,
            "platform": {"os": "linux", "architecture": "amd64"},
        }
    ],
}


def payload(document, **changes):
    document = copy.deepcopy(document)
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return json.dumps(document).encode()


def test_image_manifest():
    parsed = parse(payload(IMAGE), OCI_MANIFEST)

    assert parsed.media_type == OCI_MANIFEST
    assert not parsed.is_index
    assert parsed.config.digest == D1
    assert [layer.digest for layer in parsed.layers] == [D2, D3]
    assert parsed.layers_size == 42
    assert [d.digest for d in parsed.blob_references] == [D1, D2, D3]
    assert parsed.subject is None
    assert parsed.referrer_artifact_type == OCI_CONFIG


def test_docker_manifest():
    parsed = parse(payload(IMAGE, mediaType=DOCKER_MANIFEST), DOCKER_MANIFEST)

    assert parsed.media_type == DOCKER_MANIFEST
    assert parsed.layers_size == 42


def test_index():
    parsed = parse(payload(INDEX), OCI_INDEX)

    assert parsed.is_index
    assert parsed.config is None
    assert parsed.blob_references == []
    [child] = parsed.manifests
    assert (child.digest, child.size) == (D1, 500)
    assert child.platform == {"os": "linux", "architecture": "amd64"}
    assert parsed.referrer_artifact_type == ""


def test_docker_manifest_list():
    assert parse(payload(INDEX, mediaType=DOCKER_LIST), DOCKER_LIST).is_index


def test_artifact_with_subject_and_annotations():
    document = payload(
        IMAGE,
        artifactType="application/vnd.example.sbom",
        subject={"mediaType": OCI_MANIFEST, "digest": D3, "size": 9},
        annotations={"org.example": "yes"},
    )

    parsed = parse(document, OCI_MANIFEST)

    assert parsed.subject.digest == D3
    assert parsed.artifact_type == "application/vnd.example.sbom"
    assert parsed.referrer_artifact_type == "application/vnd.example.sbom"
    assert parsed.annotations == {"org.example": "yes"}


def test_index_artifact_type():
    parsed = parse(payload(INDEX, artifactType="application/vnd.example"), OCI_INDEX)

    assert parsed.referrer_artifact_type == "application/vnd.example"


def test_oci_manifest_may_omit_layers():
    assert parse(payload(IMAGE, layers=None), OCI_MANIFEST).layers == ()


def test_foreign_layers_are_not_blob_references():
    layers = [
        {
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "digest": D2,
            "size": 1,
        },
        {"mediaType": OCI_LAYER, "digest": D3, "size": 1, "urls": ["https://example.com/l"]},
    ]

    parsed = parse(payload(IMAGE, layers=layers), OCI_MANIFEST)

    assert [d.digest for d in parsed.blob_references] == [D1]


@pytest.mark.parametrize("content_type", ["", "application/json", "application/octet-stream"])
def test_generic_content_type_takes_the_media_type_field(content_type):
    assert parse(payload(INDEX, mediaType=DOCKER_LIST), content_type).media_type == DOCKER_LIST


@pytest.mark.parametrize(
    "document, expected", [(IMAGE, OCI_MANIFEST), (INDEX, OCI_INDEX)], ids=["image", "index"]
)
def test_media_type_is_guessed_from_the_shape(document, expected):
    assert parse(payload(document, mediaType=None), "").media_type == expected


def test_content_type_names_a_manifest_without_media_type_field():
    parsed = parse(payload(IMAGE, mediaType=None), f"{DOCKER_MANIFEST}; charset=utf-8")

    assert parsed.media_type == DOCKER_MANIFEST


def test_content_type_case_and_parameters_are_ignored():
    assert parse(payload(IMAGE), "Application/VND.OCI.Image.Manifest.v1+JSON; x=y").media_type


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    ],
)
def test_schema1_content_type_is_unsupported(content_type):
    with pytest.raises(ManifestUnsupported):
        parse(payload({"schemaVersion": 1, "fsLayers": []}), content_type)


def test_schema1_body_is_unsupported():
    with pytest.raises(ManifestUnsupported):
        parse(payload({"schemaVersion": 1, "name": "a", "fsLayers": []}), "application/json")


def descriptor_with(**changes):
    layer = dict(IMAGE["layers"][0])
    for key, value in changes.items():
        if value is None:
            layer.pop(key)
        else:
            layer[key] = value
    return payload(IMAGE, layers=[layer])


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"not json", OCI_MANIFEST),
        (b"\xff\xfe\x00", OCI_MANIFEST),
        (b"[]", OCI_MANIFEST),
        (b'"string"', OCI_MANIFEST),
        (payload(IMAGE, mediaType=DOCKER_MANIFEST), OCI_MANIFEST),
        (payload(IMAGE, mediaType=42), ""),
        (payload(IMAGE, mediaType="application/vnd.example"), ""),
        (payload(IMAGE), "text/plain"),
        (payload({"schemaVersion": 2}), ""),
        (payload(IMAGE, schemaVersion=None), OCI_MANIFEST),
        (payload(IMAGE, schemaVersion=3), OCI_MANIFEST),
        (payload(IMAGE, schemaVersion="2"), OCI_MANIFEST),
        (payload(IMAGE, config=None), OCI_MANIFEST),
        (payload(IMAGE, config="sha256:x"), OCI_MANIFEST),
        (payload(IMAGE, mediaType=DOCKER_MANIFEST, layers=None), DOCKER_MANIFEST),
        (payload(IMAGE, layers={}), OCI_MANIFEST),
        (payload(INDEX, manifests=None), OCI_INDEX),
        (payload(INDEX, manifests=[D1]), OCI_INDEX),
        (payload(IMAGE, subject="sha256:x"), OCI_MANIFEST),
        (payload(IMAGE, artifactType=7), OCI_MANIFEST),
        (payload(IMAGE, annotations=["a"]), OCI_MANIFEST),
        (payload(IMAGE, annotations={"a": 1}), OCI_MANIFEST),
        (descriptor_with(mediaType=None), OCI_MANIFEST),
        (descriptor_with(mediaType=""), OCI_MANIFEST),
        (descriptor_with(size=None), OCI_MANIFEST),
        (descriptor_with(size=-1), OCI_MANIFEST),
        (descriptor_with(size=1.5), OCI_MANIFEST),
        (descriptor_with(size=True), OCI_MANIFEST),
        (descriptor_with(size="10"), OCI_MANIFEST),
        (descriptor_with(digest=None), OCI_MANIFEST),
        (descriptor_with(digest="sha256:abc"), OCI_MANIFEST),
        (descriptor_with(digest="md5:" + "a" * 32), OCI_MANIFEST),
        (descriptor_with(platform="linux/amd64"), OCI_MANIFEST),
        (descriptor_with(urls="https://example.com"), OCI_MANIFEST),
        (descriptor_with(urls=[1]), OCI_MANIFEST),
        (descriptor_with(artifactType=[]), OCI_MANIFEST),
        (descriptor_with(annotations={"a": None}), OCI_MANIFEST),
    ],
)
def test_invalid_shapes(body, content_type):
    with pytest.raises(ManifestInvalid):
        parse(body, content_type)


def test_invalid_is_not_unsupported():
    with pytest.raises(ManifestInvalid) as raised:
        parse(b"[]", OCI_MANIFEST)

    assert not isinstance(raised.value, ManifestUnsupported)


@pytest.mark.parametrize(
    "config, expected",
    [
        (b'{"architecture": "arm64", "os": "linux"}', {"os": "linux", "architecture": "arm64"}),
        (
            b'{"architecture": "arm", "os": "linux", "variant": "v7"}',
            {"os": "linux", "architecture": "arm", "variant": "v7"},
        ),
        (
            b'{"architecture": "amd64", "os": "linux", "variant": ""}',
            {"os": "linux", "architecture": "amd64"},
        ),
        (b"{}", None),
        (b"[]", None),
        (b"not json", None),
        (b"\xff", None),
        (b'{"architecture": 1}', None),
    ],
)
def test_image_platform(config, expected):
    assert manifests.image_platform(config) == expected


@pytest.mark.parametrize(
    "platform, expected",
    [
        ({"os": "linux", "architecture": "amd64"}, "linux/amd64"),
        ({"os": "linux", "architecture": "arm", "variant": "v7"}, "linux/arm/v7"),
    ],
)
def test_platform_string(platform, expected):
    assert manifests.platform_string(platform) == expected


@pytest.mark.parametrize(
    "accept, media_type, expected",
    [
        (None, OCI_MANIFEST, True),
        ("", OCI_MANIFEST, True),
        (OCI_MANIFEST, OCI_MANIFEST, True),
        (f"{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.5", OCI_MANIFEST, True),
        ("*/*", OCI_INDEX, True),
        (DOCKER_MANIFEST, OCI_MANIFEST, False),
        (f"{DOCKER_MANIFEST},{DOCKER_LIST}", OCI_INDEX, False),
    ],
)
def test_accepts(accept, media_type, expected):
    assert manifests.accepts(accept, media_type) is expected


def test_media_type_of():
    assert manifests.media_type_of(" Application/JSON ; charset=utf-8") == "application/json"
    assert manifests.media_type_of(None) == ""
