"""GET /v2/_catalog."""

from django.conf import settings
from django.urls import reverse

from .. import services
from .auth import authorize_catalog
from .base import json_response, page_size, registry_view
from .tags import next_link

DEFAULT_PAGE_SIZE = 100


@registry_view(methods=("GET",))
def catalog(request):
    n = page_size(request, default=DEFAULT_PAGE_SIZE, maximum=settings.HUB_PAGE_SIZE_MAX)
    names = services.catalog_page(
        actor=authorize_catalog(request).actor, last=request.GET.get("last"), limit=n + 1
    )
    headers = {}
    if len(names) > n:
        names = names[:n]
        if names:
            headers["Link"] = next_link(reverse("registry:catalog"), n, names[-1])
    return json_response({"repositories": names}, headers=headers)
