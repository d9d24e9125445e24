"""Template helpers for the repository pages and the profile pages that list
repositories."""

from django import template

from .. import permissions, usage
from ..models import Repository
from ..oci.manifests import platform_string

register = template.Library()


@register.filter
def platform(value):
    """A manifest's platform dict as "os/arch[/variant]"."""
    return platform_string(value) if isinstance(value, dict) else ""


@register.simple_tag(takes_context=True)
def starred_repositories(context, user):
    """The repositories ``user`` starred that the viewer may read."""
    viewer = context["request"].user
    return list(
        Repository.objects.visible_to(viewer).starred_by(user).select_related("namespace")[:50]
    )


@register.simple_tag
def repository_storage(repository):
    """What ``repository`` stores, as "1.2 GB"."""
    return usage.format_bytes(usage.repository_usage(repository))


@register.simple_tag(takes_context=True)
def namespace_storage(context, namespace):
    """What ``namespace`` stores and may store, as "1.2 GB of 10 GB" (or
    "1.2 GB, no limit"), for its owners and staff; None for anyone else."""
    viewer = context["request"].user
    if namespace is None or not permissions.can(viewer, namespace, permissions.ADMIN):
        return None
    used, quota = usage.namespace_usage(namespace), namespace.quota_bytes
    if quota is None:
        return {"text": f"{usage.format_bytes(used)}, no limit", "percent": None}
    return {
        "text": f"{usage.format_bytes(used)} of {usage.format_bytes(quota)}",
        "percent": min(100, round(100 * used / quota)),
    }
