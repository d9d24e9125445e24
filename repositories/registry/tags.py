"""GET /v2/<name>/tags/list."""

from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from .. import permissions, services
from .base import authorized_repository, json_response, page_size, registry_view


def next_link(path, n, last):
    return f'<{path}?{urlencode({"n": n, "last": last})}>; rel="next"'


@registry_view(methods=("GET",))
def tags_list(request, name):
    repository = authorized_repository(request, name, permissions.PULL)
    # Without ``n`` the whole list comes back, as clients that ignore Link expect.
    n = page_size(request, default=None, maximum=settings.HUB_PAGE_SIZE_MAX)
    last = request.GET.get("last") or None
    tags = services.tags_page(repository=repository, last=last, limit=None if n is None else n + 1)
    headers = {}
    if n is not None and len(tags) > n:
        tags = tags[:n]
        if tags:
            headers["Link"] = next_link(
                reverse("registry:tags", kwargs={"name": name}), n, tags[-1]
            )
    return json_response({"name": name, "tags": tags}, headers=headers)
