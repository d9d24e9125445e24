from django.conf import settings


def registry_host(request):
    """The host name to put in `docker login HOST` examples."""
    return {"registry_host": settings.HUB_REGISTRY_HOST or request.get_host()}
