"""GET /v2/ and the answer for any /v2/ path that names no endpoint."""

from . import errors
from .auth import authenticate
from .base import json_response, registry_view


@registry_view(methods=("GET", "HEAD"))
def api_root(request):
    authenticate(request)
    return json_response({})


@registry_view(methods=("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"))
def not_found(request, path):
    raise errors.NameUnknown("no such registry endpoint", detail={"path": request.path})
