"""The repository pages of the web portal (the registry lives in registry/urls.py)."""

from django.urls import path

from . import views_settings

urlpatterns = [
    # A repository's name may have several components (a/b/c); the settings
    # suffix tells where it ends.
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
]
