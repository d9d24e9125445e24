"""The repository pages of the web portal (the registry lives in registry/urls.py)."""

from django.urls import path

from . import views, views_settings

urlpatterns = [
    path("search/", views.search, name="search"),
    path("new/", views.repository_create, name="repository-create"),
    # A repository's name may have several components (a/b/c); the suffix
    # tells where it ends, so the patterns with a suffix come first.
    path(
        "r/<str:namespace>/<path:name>/settings/collaborators/",
        views_settings.collaborator_list,
        name="repository-collaborators",
    ),
    path(
        "r/<str:namespace>/<path:name>/settings/collaborators/<str:username>/",
        views_settings.collaborator_update,
        name="repository-collaborator-update",
    ),
    path(
        "r/<str:namespace>/<path:name>/settings/immutable-tags/",
        views_settings.immutable_tag_rule_add,
        name="immutable-tag-rule-add",
    ),
    path(
        "r/<str:namespace>/<path:name>/settings/immutable-tags/<int:pk>/delete/",
        views_settings.immutable_tag_rule_delete,
        name="immutable-tag-rule-delete",
    ),
    path(
        "r/<str:namespace>/<path:name>/settings/delete/",
        views.repository_delete,
        name="repository-delete",
    ),
    path(
        "r/<str:namespace>/<path:name>/settings/",
        views.repository_settings,
        name="repository-settings",
    ),
    path(
        "r/<str:namespace>/<path:name>/tags/<str:tag>/delete/",
        views.tag_delete,
        name="tag-delete",
    ),
    path("r/<str:namespace>/<path:name>/tags/", views.repository_tags, name="repository-tags"),
    path("r/<str:namespace>/<path:name>/star/", views.star, name="repository-star"),
    path("r/<str:namespace>/<path:name>/", views.repository_detail, name="repository-detail"),
    path("_/<path:name>/", views.library_detail, name="library-detail"),
]
