"""Template helpers for the repository pages and the profile pages that list
repositories."""

from django import template

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
