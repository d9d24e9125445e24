"""GET, HEAD, PUT and DELETE /v2/<name>/manifests/<reference>."""

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse

from hub import metrics

from .. import permissions, pulls, services
from ..oci import digests
from ..oci import manifests as oci_manifests
from ..oci.names import is_valid_tag
from . import errors
from .base import (
    authorized_repository,
    check_digest,
    empty_response,
    registry_view,
    repository_for_push,
    request_body,
    spec_errors,
)


def _check_reference(reference):
    if digests.is_digest(reference):
        check_digest(reference)
    elif not is_valid_tag(reference):
        raise errors.ManifestInvalid(f"invalid tag {reference!r}", detail={"tag": reference})


@registry_view(methods=("GET", "HEAD", "PUT", "DELETE"))
def manifest(request, name, reference):
    _check_reference(reference)
    if request.method == "PUT":
        return _put(request, name, reference)
    if request.method == "DELETE":
        return _delete(request, name, reference)

    repository = authorized_repository(request, name, permissions.PULL)
    found = services.manifest_resolve(repository=repository, reference=reference)
    if found is None:
        raise errors.ManifestUnknown(detail={"reference": reference})
    digest, media_type, payload = _negotiate(request, repository, found)
    if request.method == "GET":
        pulls.record_pull(repository_id=repository.pk)
        metrics.REGISTRY_PULLS.inc()
    response = HttpResponse(b"" if request.method == "HEAD" else payload, content_type=media_type)
    response["Content-Length"] = str(len(payload))
    response["Docker-Content-Digest"] = digest
    response["ETag"] = f'"{digest}"'
    return response


def _negotiate(request, repository, found):
    """Serve what the client's Accept header admits. A client that cannot
    read an index gets the default platform's image, as Docker Hub does."""
    digest, media_type, payload = found
    accept = request.headers.get("Accept", "")
    if oci_manifests.accepts(accept, media_type):
        return found
    if media_type in oci_manifests.INDEX_TYPES and any(
        oci_manifests.accepts(accept, t) for t in oci_manifests.IMAGE_MANIFEST_TYPES
    ):
        child = services.manifest_for_platform(
            repository=repository, index_payload=payload, platform=settings.HUB_DEFAULT_PLATFORM
        )
        if child is not None and oci_manifests.accepts(accept, child[1]):
            return child
    raise errors.ManifestUnknown(
        f"the manifest is {media_type}, which the Accept header does not admit",
        detail={"mediaType": media_type},
    )


def _put(request, name, reference):
    repository, found = repository_for_push(request, name)
    limit = settings.HUB_MAX_MANIFEST_SIZE
    stream, length = request_body(request)
    if length is not None and length > limit:
        raise errors.ManifestTooLarge(f"manifest is larger than {limit} bytes")
    payload = stream.read(limit + 1)
    if len(payload) > limit:
        raise errors.ManifestTooLarge(f"manifest is larger than {limit} bytes")
    extra_tags = request.GET.getlist("tag") if digests.is_digest(reference) else []

    with spec_errors():
        manifest, parsed = services.manifest_put(
            repository=repository,
            reference=reference,
            payload=payload,
            content_type=request.headers.get("Content-Type", ""),
            tags=extra_tags,
            pusher=permissions.acting_user(found.actor),
        )
    headers = {
        "Location": reverse(
            "registry:manifest", kwargs={"name": name, "reference": manifest.digest}
        ),
        "Docker-Content-Digest": manifest.digest,
    }
    if parsed.subject:
        headers["OCI-Subject"] = parsed.subject.digest
    if extra_tags:
        headers["OCI-Tag"] = ", ".join(extra_tags)
    metrics.REGISTRY_PUSHES.inc()
    return empty_response(201, headers)


def _delete(request, name, reference):
    repository = authorized_repository(request, name, permissions.DELETE)
    with spec_errors():
        if digests.is_digest(reference):
            deleted = services.manifest_delete(repository=repository, digest=reference)
        else:
            deleted = services.tag_delete(repository=repository, name=reference)
    if not deleted:
        raise errors.ManifestUnknown(detail={"reference": reference})
    return empty_response(202)
