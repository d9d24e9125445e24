"""/api/: the schema, its docs page, and version 1 of the REST API."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.models import Namespace

from ..oci.names import NAME_PATTERN, TAG_PATTERN
from . import storage, views

app_name = "api"

# A repository name may have several components (a/b/c): the routes with a
# suffix come first, so ".../tags/" is the tag list rather than part of a name.
REPOSITORY = rf"repositories/(?P<namespace>[^/]+)/(?P<name>{NAME_PATTERN})"
# Which kind of namespace a route names, and by which URL argument.
USER = {"kind": Namespace.Kind.USER, "namespace_kwarg": "username"}
ORGANIZATION = {"kind": Namespace.Kind.ORGANIZATION, "namespace_kwarg": "name"}

v1 = [
    path("repositories/", views.RepositoryList.as_view(), name="repositories"),
    re_path(rf"^{REPOSITORY}/tags/$", views.TagList.as_view(), name="tags"),
    re_path(rf"^{REPOSITORY}/tags/(?P<tag>{TAG_PATTERN})/$", views.TagDetail.as_view(), name="tag"),
    re_path(rf"^{REPOSITORY}/star/$", views.Star.as_view(), name="star"),
    re_path(
        rf"^{REPOSITORY}/immutable-tag-rules/$",
        views.RepositoryRuleList.as_view(),
        name="repository-immutable-tag-rules",
    ),
    re_path(
        rf"^{REPOSITORY}/immutable-tag-rules/(?P<pk>[0-9]+)/$",
        views.RepositoryRuleDetail.as_view(),
        name="repository-immutable-tag-rule",
    ),
    re_path(rf"^{REPOSITORY}/$", views.RepositoryDetail.as_view(), name="repository"),
    path(
        "users/<str:username>/repositories/",
        views.NamespaceRepositoryList.as_view(**USER),
        name="user-repositories",
    ),
    path("users/<str:username>/starred/", views.StarredList.as_view(), name="user-starred"),
    path(
        "orgs/<str:name>/repositories/",
        views.NamespaceRepositoryList.as_view(**ORGANIZATION),
        name="org-repositories",
    ),
    path(
        "users/<str:username>/immutable-tag-rules/",
        views.NamespaceRuleList.as_view(**USER),
        name="user-immutable-tag-rules",
    ),
    path(
        "users/<str:username>/immutable-tag-rules/<int:pk>/",
        views.NamespaceRuleDetail.as_view(**USER),
        name="user-immutable-tag-rule",
    ),
    path(
        "orgs/<str:name>/immutable-tag-rules/",
        views.NamespaceRuleList.as_view(**ORGANIZATION),
        name="org-immutable-tag-rules",
    ),
    path(
        "orgs/<str:name>/immutable-tag-rules/<int:pk>/",
        views.NamespaceRuleDetail.as_view(**ORGANIZATION),
        name="org-immutable-tag-rule",
    ),
    path(
        "users/<str:username>/storage/",
        storage.NamespaceStorage.as_view(kind=Namespace.Kind.USER, namespace_kwarg="username"),
        name="user-storage",
    ),
    path(
        "orgs/<str:name>/storage/",
        storage.NamespaceStorage.as_view(kind=Namespace.Kind.ORGANIZATION, namespace_kwarg="name"),
        name="org-storage",
    ),
    path("", include("accounts.api.urls")),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
