"""Parsing and validation of image manifests and indexes (OCI and Docker schema 2)."""

import json
from dataclasses import dataclass, field

from . import digests

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)

IMAGE_MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
MANIFEST_TYPES = IMAGE_MANIFEST_TYPES + INDEX_TYPES

IMAGE_CONFIG_TYPES = (
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.image.config.v1+json",
)
# Layers that registries are not allowed, or not expected, to hold.
NONDISTRIBUTABLE_LAYER_TYPES = (
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)
# Content types that say nothing about which manifest the body is.
GENERIC_CONTENT_TYPES = ("", "application/json", "application/octet-stream")


class ManifestInvalid(ValueError):
    pass


class ManifestUnsupported(ManifestInvalid):
    """A manifest format this registry deliberately refuses (schema 1)."""


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str = ""
    platform: dict | None = None
    urls: tuple = ()
    annotations: dict = field(default_factory=dict)

    @property
    def is_foreign(self):
        """Foreign (non-distributable) layers live elsewhere; a registry need not hold them."""
        return bool(self.urls) or self.media_type in NONDISTRIBUTABLE_LAYER_TYPES


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor | None = None
    layers: tuple = ()
    manifests: tuple = ()
    subject: Descriptor | None = None
    artifact_type: str = ""
    annotations: dict = field(default_factory=dict)

    @property
    def is_index(self):
        return self.media_type in INDEX_TYPES

    @property
    def blob_references(self):
        """The blobs this manifest needs the repository to hold."""
        refs = [self.config] if self.config else []
        return [d for d in refs + list(self.layers) if not d.is_foreign]

    @property
    def referrer_artifact_type(self):
        """The ``artifactType`` a referrers listing shows for this manifest."""
        if self.artifact_type:
            return self.artifact_type
        if not self.is_index and self.config:
            return self.config.media_type
        return ""

    @property
    def layers_size(self):
        return sum(layer.size for layer in self.layers)


def media_type_of(content_type):
    """The bare media type of a Content-Type header value."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse(payload, content_type=""):
    """Parse ``payload`` as the manifest ``content_type`` names, checking its shape."""
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")

    declared = document.get("mediaType")
    header_type = media_type_of(content_type)
    if header_type in DOCKER_SCHEMA1 or document.get("schemaVersion") == 1:
        raise ManifestUnsupported(
            "Docker schema 1 manifests are not supported; push schema 2 or OCI"
        )
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    if header_type in GENERIC_CONTENT_TYPES:
        media_type = declared or _guess_media_type(document)
    else:
        media_type = header_type
        if declared and declared != header_type:
            raise ManifestInvalid(
                f"mediaType {declared!r} does not match Content-Type {header_type!r}"
            )
    if media_type not in MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type {media_type!r}")
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")

    common = {
        "media_type": media_type,
        "subject": _descriptor(document["subject"], "subject") if "subject" in document else None,
        "artifact_type": _optional_string(document, "artifactType"),
        "annotations": _annotations(document.get("annotations"), "annotations"),
    }
    if media_type in INDEX_TYPES:
        return Manifest(manifests=_descriptors(document, "manifests", required=True), **common)
    if "config" not in document:
        raise ManifestInvalid("an image manifest needs a config descriptor")
    return Manifest(
        config=_descriptor(document["config"], "config"),
        layers=_descriptors(document, "layers", required=media_type == DOCKER_MANIFEST),
        **common,
    )


def _guess_media_type(document):
    if "manifests" in document:
        return OCI_INDEX
    if "config" in document:
        return OCI_MANIFEST
    raise ManifestInvalid("cannot tell the manifest type: no mediaType and no Content-Type")


def _descriptors(document, key, *, required):
    items = document.get(key)
    if items is None and not required:
        return ()
    if not isinstance(items, list):
        raise ManifestInvalid(f"{key} must be a list of descriptors")
    return tuple(_descriptor(item, f"{key}[{i}]") for i, item in enumerate(items))


def _descriptor(item, where):
    if not isinstance(item, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    media_type = item.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType is missing")
    size = item.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    try:
        digests.parse(item.get("digest"))
    except digests.InvalidDigest as exc:
        raise ManifestInvalid(f"{where}.digest: {exc}") from None
    platform = item.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestInvalid(f"{where}.platform must be an object")
    urls = item.get("urls") or ()
    if not isinstance(urls, (list, tuple)) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}.urls must be a list of strings")
    return Descriptor(
        media_type=media_type,
        digest=item["digest"],
        size=size,
        artifact_type=_optional_string(item, "artifactType", where),
        platform=platform,
        urls=tuple(urls),
        annotations=_annotations(item.get("annotations"), f"{where}.annotations"),
    )


def _optional_string(document, key, where=""):
    value = document.get(key, "")
    if not isinstance(value, str):
        raise ManifestInvalid(f"{where + '.' if where else ''}{key} must be a string")
    return value


def _annotations(value, where):
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestInvalid(f"{where} must map strings to strings")
    return value


def image_platform(config_payload):
    """The platform (os, architecture, variant) an image config declares, or None."""
    try:
        config = json.loads(config_payload)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(config, dict) or not isinstance(config.get("architecture"), str):
        return None
    platform = {"os": str(config.get("os", "")), "architecture": config["architecture"]}
    if isinstance(config.get("variant"), str) and config["variant"]:
        platform["variant"] = config["variant"]
    return platform


def platform_string(platform):
    parts = [platform.get("os", ""), platform.get("architecture", "")]
    if platform.get("variant"):
        parts.append(platform["variant"])
    return "/".join(parts)


def accepts(accept_header, media_type):
    """Whether an Accept header admits ``media_type``; no header admits anything."""
    accepted = [media_type_of(part) for part in (accept_header or "").split(",") if part.strip()]
    if not accepted:
        return True
    return media_type in accepted or "*/*" in accepted
