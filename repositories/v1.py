"""The two /v1/ endpoints `docker search` calls: a ping, then the search.

The Docker daemon pings /v1/_ping before searching a registry other than
Docker Hub, then sends GET /v1/search?q=TERM&n=LIMIT with the user's Basic
credentials (or, after a token login, a bearer token). Its client refuses a
limit outside 1 to 100, and so do we. Names in the library namespace are shown
bare, as Docker Hub shows its official images ("nginx", not "library/nginx"),
and `docker pull HOST/nginx` pulls exactly that repository.
"""

from django.http import JsonResponse
from django.views.decorators.http import require_safe

from . import permissions
from .oci.names import DEFAULT_NAMESPACE
from .registry import errors
from .registry.auth import challenge, principal
from .search import search_repositories

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


@require_safe
def ping(request):
    response = JsonResponse(True, safe=False)
    # A standalone registry: the daemon then sends the user's credentials.
    response["X-Docker-Registry-Standalone"] = "true"
    return response


def _bad_request(message):
    return JsonResponse({"error": message}, status=400)


def _integer(request, name, default):
    value = request.GET.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        return None


def _result(repository):
    name = repository.name
    if repository.namespace.name != DEFAULT_NAMESPACE:
        name = repository.full_name
    return {
        "name": name,
        "description": repository.description,
        "star_count": repository.star_count,
        "is_official": repository.is_official,
        "is_automated": repository.is_automated,
    }


def _caller(request):
    """Who is searching: what /v2/ would make of the same credentials. A bad
    or expired bearer token gets the same 401 and challenge as on /v2/, and a
    build's token, which only pushes and pulls, is refused."""
    found = principal(request)
    if found.error:
        raise errors.Unauthorized(headers=challenge(request, error=found.error))
    if permissions.is_limited_token(found.actor):
        raise errors.Unauthorized("a build's token can only push and pull through the registry")
    return found.actor


@require_safe
def search(request):
    try:
        actor = _caller(request)
    except errors.RegistryError as error:  # wrong credentials, or locked out
        response = JsonResponse({"error": error.message}, status=error.status)
        for header, value in error.headers.items():
            response[header] = value
        return response
    limit = _integer(request, "n", DEFAULT_LIMIT)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        return _bad_request(f"n must be an integer from 1 to {MAX_LIMIT}")
    page = _integer(request, "page", 1)
    if page is None or page < 1:
        return _bad_request("page must be an integer from 1")
    query = request.GET.get("q", "")
    found = search_repositories(query=query, actor=actor, page=page, page_size=limit)
    return JsonResponse(
        {
            "num_pages": found.num_pages,
            "num_results": found.total,
            "page": page,
            "page_size": limit,
            "query": query,
            "results": [_result(repository) for repository in found.results],
        }
    )
