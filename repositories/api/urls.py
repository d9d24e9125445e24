"""/api/: the schema, its docs page, and version 1 of the REST API."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.models import Namespace

from ..oci.names import NAME_PATTERN, TAG_PATTERN
from . import views

app_name = "api"

# A repository name may have several components (a/b/c): the routes with a
# suffix come first, so ".../tags/" is the tag list rather than part of a name.
REPOSITORY = rf"repositories/(?P<namespace>[^/]+)/(?P<name>{NAME_PATTERN})"

v1 = [
    path("repositories/", views.RepositoryList.as_view(), name="repositories"),
    re_path(rf"^{REPOSITORY}/tags/$", views.TagList.as_view(), name="tags"),
    re_path(rf"^{REPOSITORY}/tags/(?P<tag>{TAG_PATTERN})/$", views.TagDetail.as_view(), name="tag"),
    re_path(rf"^{REPOSITORY}/star/$", views.Star.as_view(), name="star"),
    re_path(rf"^{REPOSITORY}/$", views.RepositoryDetail.as_view(), name="repository"),
    path(
        "users/<str:username>/repositories/",
        views.NamespaceRepositoryList.as_view(kind=Namespace.Kind.USER, namespace_kwarg="username"),
        name="user-repositories",
    ),
    path("users/<str:username>/starred/", views.StarredList.as_view(), name="user-starred"),
    path(
        "orgs/<str:name>/repositories/",
        views.NamespaceRepositoryList.as_view(
            kind=Namespace.Kind.ORGANIZATION, namespace_kwarg="name"
        ),
        name="org-repositories",
    ),
    path("", include("accounts.api.urls")),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
