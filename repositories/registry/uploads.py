"""Blob uploads: POST /v2/<name>/blobs/uploads/ and the session URL that
answers GET, PATCH, PUT and DELETE."""

import re
import uuid

from django.urls import reverse

from .. import permissions, services
from ..models import Repository
from ..oci.names import is_valid_name
from . import errors
from .auth import principal
from .base import (
    authorized_repository,
    empty_response,
    registry_view,
    repository_for_push,
    request_body,
    spec_errors,
)

_CONTENT_RANGE_RE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/\d+|/\*)?$")


def _blob_created(name, blob):
    return empty_response(
        201,
        {
            "Location": reverse("registry:blob", kwargs={"name": name, "digest": blob.digest}),
            "Docker-Content-Digest": blob.digest,
        },
    )


def _upload_status(name, upload, status):
    return empty_response(
        status,
        {
            "Location": reverse(
                "registry:upload", kwargs={"name": name, "upload_id": str(upload.uuid)}
            ),
            "Range": f"0-{max(upload.offset - 1, 0)}",
            "Docker-Upload-UUID": str(upload.uuid),
        },
    )


@registry_view(methods=("POST",))
def upload_start(request, name):
    repository, _ = repository_for_push(request, name)
    mount, digest = request.GET.get("mount"), request.GET.get("digest")
    with spec_errors():
        if mount:
            blob = services.blob_mount(
                repository=repository,
                digest=mount,
                sources=_mount_sources(request, request.GET.get("from")),
            )
            if blob is not None:
                return _blob_created(name, blob)
        elif digest:
            stream, length = request_body(request)
            blob = services.blob_upload_monolithic(
                repository=repository, digest=digest, stream=stream, length=length
            )
            return _blob_created(name, blob)
    upload = services.upload_start(repository=repository)
    return _upload_status(name, upload, 202)


@registry_view(methods=("GET", "PATCH", "PUT", "DELETE"))
def upload(request, name, upload_id):
    repository = authorized_repository(request, name, permissions.PUSH)
    session = _find_upload(repository, upload_id)

    if request.method == "GET":
        return _upload_status(name, session, 204)
    if request.method == "DELETE":
        services.upload_cancel(upload=session)
        return empty_response(204)

    stream, length = request_body(request)
    start = _chunk_start(request, length)
    with spec_errors():
        try:
            if request.method == "PATCH":
                session = services.upload_append(
                    upload=session, stream=stream, length=length, start=start
                )
                return _upload_status(name, session, 202)
            digest = request.GET.get("digest")
            if not digest:
                raise errors.DigestInvalid("the closing PUT needs ?digest=")
            if start is not None and start != session.offset:
                raise services.UploadOutOfOrder(session.offset)
            blob = services.upload_complete(
                upload=session, digest=digest, stream=stream, length=length
            )
            return _blob_created(name, blob)
        except services.UploadOutOfOrder as exc:
            raise errors.RangeInvalid(
                f"chunk must start at byte {exc.offset}",
                headers={
                    "Range": f"0-{max(exc.offset - 1, 0)}",
                    "Location": request.path,
                    "Docker-Upload-UUID": str(session.uuid),
                },
            ) from None


def _mount_sources(request, source_name):
    """The repositories a blob may be mounted from: those the caller may
    read (a build's token: none but its own), narrowed to ``from`` when it
    is given."""
    readable = Repository.objects.visible_to(principal(request).actor)
    if not source_name:
        return readable
    if not is_valid_name(source_name):
        return Repository.objects.none()
    return readable.by_full_name(source_name)


def _find_upload(repository, upload_id):
    try:
        key = uuid.UUID(upload_id)
    except ValueError:
        raise errors.BlobUploadUnknown(detail={"uuid": upload_id}) from None
    session = services.upload_find(repository=repository, upload_id=key)
    if session is None:
        raise errors.BlobUploadUnknown(detail={"uuid": upload_id})
    return session


def _chunk_start(request, length):
    """Where a chunk says it begins (from Content-Range), or None."""
    header = request.headers.get("Content-Range")
    if not header:
        return None
    match = _CONTENT_RANGE_RE.match(header.strip())
    if not match:
        raise errors.BlobUploadInvalid(f"malformed Content-Range {header!r}")
    start, end = (int(group) for group in match.groups())
    if end < start:
        raise errors.RangeInvalid(f"Content-Range {header!r} ends before it starts")
    if length is not None and length != end - start + 1:
        raise errors.SizeInvalid("Content-Length does not match Content-Range")
    return start
