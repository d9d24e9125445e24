"""Hub-wide error pages."""

import sys

from django.views import defaults

from repositories.registry import base, outages

# Registry clients read JSON errors: an exception raised before a registry
# view runs (in a middleware, say) must not reach them as an HTML page.
REGISTRY_PREFIXES = ("/v2/", "/token")


def server_error(request):
    if not request.path.startswith(REGISTRY_PREFIXES):
        return defaults.server_error(request)
    response = base.error_response(
        outages.error_for(sys.exception()), head=request.method == "HEAD"
    )
    response[base.API_VERSION_HEADER[0]] = base.API_VERSION_HEADER[1]
    return response
