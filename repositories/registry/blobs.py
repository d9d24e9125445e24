"""GET, HEAD and DELETE /v2/<name>/blobs/<digest>."""

import re

from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseRedirect, StreamingHttpResponse

from hub import metrics

from .. import blobstore, permissions, services
from . import errors
from .base import authorized_repository, check_digest, empty_response, registry_view

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


@registry_view(methods=("GET", "HEAD", "DELETE"))
def blob(request, name, digest):
    check_digest(digest)
    if request.method == "DELETE":
        repository = authorized_repository(request, name, permissions.DELETE)
        if not services.blob_unlink(repository=repository, digest=digest):
            raise errors.BlobUnknown(detail={"digest": digest})
        return empty_response(202, {"Docker-Content-Digest": digest})

    repository = authorized_repository(request, name, permissions.PULL)
    found = services.blob_find(repository=repository, digest=digest)
    if found is None:
        raise errors.BlobUnknown(detail={"digest": digest})
    headers = {
        "Docker-Content-Digest": found.digest,
        "Accept-Ranges": "bytes",
        "ETag": f'"{found.digest}"',
        "Cache-Control": "max-age=31536000",
    }
    if request.method == "HEAD":
        response = empty_response(200, headers, content_length=found.size)
        response["Content-Type"] = "application/octet-stream"
        return response
    return _blob_body(request, found, headers)


def byte_range(header, size):
    """``(start, end)`` inclusive for a single-range header, None to send the
    whole blob, or raise ValueError when the range cannot be satisfied."""
    match = _RANGE_RE.match((header or "").strip())
    if not match:
        return None  # absent, or a form (several ranges) we answer whole
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise ValueError("range outside the blob")
    return start, end


def _blob_body(request, blob, headers):
    delivery = settings.HUB_BLOB_DELIVERY
    if delivery == "redirect":
        response = HttpResponseRedirect(blobstore.blob_url(blob.digest))
        response.status_code = 307
        return response
    if delivery == "x-accel":
        # nginx sends the bytes and answers Range itself.
        response = HttpResponse(content_type="application/octet-stream")
        response["X-Accel-Redirect"] = settings.HUB_X_ACCEL_PREFIX + blobstore.blob_name(
            blob.digest
        )
        return _with_headers(response, headers)

    try:
        requested = byte_range(request.headers.get("Range"), blob.size)
    except ValueError:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{blob.size}"
        return _with_headers(response, headers)

    handle = blobstore.open_blob(blob.digest)
    services.release_database()
    if requested is None:
        if delivery == "sendfile" and blobstore.blob_path(blob.digest):
            # The WSGI server hands the file to the kernel (sendfile).
            response = FileResponse(handle, content_type="application/octet-stream")
            metrics.REGISTRY_SENT_BYTES.inc(blob.size)  # the kernel sends it; see the metric
        else:
            response = StreamingHttpResponse(
                _stream(handle, 0, blob.size), content_type="application/octet-stream"
            )
            response["Content-Length"] = str(blob.size)
        return _with_headers(response, headers)

    start, end = requested
    response = StreamingHttpResponse(
        _stream(handle, start, end - start + 1), status=206, content_type="application/octet-stream"
    )
    response["Content-Length"] = str(end - start + 1)
    response["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
    return _with_headers(response, headers)


def _stream(handle, start, length):
    """The body as an iterator whose first chunk has been read already. S3
    opens an object lazily, at the first read: done here, inside the view, a
    storage outage is still answered with the registry's 503, where a failure
    once the response has begun could only cut the connection."""
    try:
        if start:
            handle.seek(start)
        first = handle.read(min(blobstore.CHUNK_SIZE, length))
    except BaseException:
        handle.close()
        raise
    return _rest(handle, first, length - len(first))


def _rest(handle, first, length):
    with handle:
        if first:
            metrics.REGISTRY_SENT_BYTES.inc(len(first))
            yield first
        while length > 0:
            chunk = handle.read(min(blobstore.CHUNK_SIZE, length))
            if not chunk:
                break
            length -= len(chunk)
            metrics.REGISTRY_SENT_BYTES.inc(len(chunk))
            yield chunk


def _with_headers(response, headers):
    for header, value in headers.items():
        response[header] = value
    return response
