"""What every /v2/ view shares: errors as the spec's JSON, the API version
header, name checks and request bodies."""

import json
from contextlib import contextmanager
from functools import wraps

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .. import permissions, services
from ..oci import digests
from ..oci.names import is_valid_name
from . import errors, outages
from .auth import authorize

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


def error_response(error, *, head=False):
    response = JsonResponse({"errors": [error.as_dict()]}, status=error.status)
    if head:
        response.content = b""
    for header, value in error.headers.items():
        response[header] = value
    return response


def registry_view(methods):
    """Wrap a view taking ``request`` and URL parts: allow ``methods``,
    turn RegistryError into the spec's answer, and any other exception too
    (503 when something the registry needs is down, 507 on a full disk, 500
    otherwise), stamp the API version. A streamed body that fails after
    its headers have gone cannot change its status; it is cut short."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                if request.method not in methods:
                    raise errors.Unsupported(
                        f"{request.method} is not supported here",
                        headers={"Allow": ", ".join(methods)},
                    )
                response = view(request, *args, **kwargs)
            except errors.RegistryError as error:
                response = error_response(error, head=request.method == "HEAD")
                _discard_unread_body(request)
            except outages.LEFT_TO_DJANGO:
                raise
            except Exception as exc:
                response = error_response(outages.error_for(exc), head=request.method == "HEAD")
                outages.log_failure(request, response, exc)
                _discard_unread_body(request)
            response[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
            return response

        return wrapper

    return decorate


# A refused request's body is read and dropped, up to this much, so that the
# connection can carry the client's next request: the WSGI server would
# otherwise close it after answering "keep-alive".
DISCARD_LIMIT = 32 * 1024 * 1024


def _discard_unread_body(request):
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    try:
        stream, length = request_body(request)
        remaining = DISCARD_LIMIT if length is None else min(length, DISCARD_LIMIT)
        while remaining > 0 and (chunk := stream.read(min(remaining, 1024 * 1024))):
            remaining -= len(chunk)
    except (errors.RegistryError, OSError, ValueError):
        pass  # the connection is beyond saving; the server will close it


def empty_response(status, headers=None, *, content_length=0):
    response = HttpResponse(status=status)
    response["Content-Length"] = str(content_length)
    for header, value in (headers or {}).items():
        response[header] = value
    return response


def check_name(name):
    if not is_valid_name(name):
        raise errors.NameInvalid(f"invalid repository name {name!r}", detail={"name": name})


def authorized_repository(request, name, action):
    """The repository ``name`` if the caller may take ``action`` on it. The
    caller is checked before existence, so a private repository and a
    missing one look the same to those who may not read it."""
    check_name(name)
    repository = services.repository_find(name=name)
    authorize(request, name=name, repository=repository, action=action)
    if repository is None:
        raise errors.NameUnknown(detail={"name": name})
    return repository


def repository_for_push(request, name):
    """The repository a push to ``name`` lands in, created on first push,
    and the Principal pushing."""
    check_name(name)
    repository = services.repository_find(name=name)
    found = authorize(request, name=name, repository=repository, action=permissions.PUSH)
    if repository is None:
        repository = services.repository_get_or_create(
            name=name, creator=permissions.acting_user(found.actor)
        )
    return repository, found


def check_digest(digest):
    try:
        digests.parse(digest)
    except digests.InvalidDigest as exc:
        raise errors.DigestInvalid(str(exc), detail={"digest": digest}) from None


def request_body(request):
    """The request body as a stream and its length, or None for a chunked
    body (which only the WSGI server's own input stream can read)."""
    header = request.META.get("CONTENT_LENGTH")
    if header:
        try:
            length = int(header)
        except ValueError:
            raise errors.SizeInvalid("Content-Length is not a number") from None
        if length < 0:
            raise errors.SizeInvalid("Content-Length is negative")
        return request, length
    if request.META.get("wsgi.input_terminated"):
        return request.META["wsgi.input"], None
    return request, 0


def page_size(request, default, maximum):
    """The ``n`` query parameter, bounded."""
    raw = request.GET.get("n")
    if raw is None or raw == "":
        return default
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if n < 0:
        raise errors.ParameterInvalid("n must be a whole number")
    return min(n, maximum)


def json_response(data, *, content_type="application/json", headers=None):
    response = HttpResponse(json.dumps(data), content_type=content_type)
    for header, value in (headers or {}).items():
        response[header] = value
    return response


@contextmanager
def spec_errors():
    """Translate the services' exceptions into the spec's errors."""
    try:
        yield
    except services.InvalidDigest as exc:
        raise errors.DigestInvalid(str(exc)) from None
    except services.DigestMismatch as exc:
        raise errors.DigestInvalid(str(exc)) from None
    except services.UploadTooLarge as exc:
        raise errors.BlobTooLarge(str(exc)) from None
    except services.UploadIncomplete as exc:
        raise errors.SizeInvalid(str(exc)) from None
    except services.UploadUnknown:
        raise errors.BlobUploadUnknown("the upload session has ended") from None
    except services.ManifestReferencesUnknown as exc:
        raise errors.ManifestBlobUnknown(str(exc), detail={"digests": exc.missing}) from None
    except services.ManifestRejected as exc:
        raise errors.ManifestInvalid(str(exc)) from None
    except services.QuotaExceeded as exc:
        raise errors.Denied(str(exc)) from None
    except services.TagImmutable as exc:
        raise errors.Denied(str(exc), detail={"tag": exc.tag, "rule": exc.rule.pattern}) from None
