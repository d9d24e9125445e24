from django.urls import path

from . import views

urlpatterns = [
    path("u/<str:username>/", views.user_detail, name="user-detail"),
    # "new" is a reserved name, so no organization can be called that.
    path("orgs/new/", views.organization_create, name="organization-create"),
    path("orgs/<str:name>/", views.organization_detail, name="organization-detail"),
    path("orgs/<str:name>/members/", views.organization_members, name="organization-members"),
    path(
        "orgs/<str:name>/members/<str:username>/",
        views.organization_member_update,
        name="organization-member-update",
    ),
    path("orgs/<str:name>/teams/", views.organization_teams, name="organization-teams"),
    path("orgs/<str:name>/teams/<str:team>/", views.team_detail, name="team-detail"),
    path(
        "orgs/<str:name>/teams/<str:team>/members/",
        views.team_member_add,
        name="team-member-add",
    ),
    path(
        "orgs/<str:name>/teams/<str:team>/members/<str:username>/remove/",
        views.team_member_remove,
        name="team-member-remove",
    ),
    path(
        "orgs/<str:name>/teams/<str:team>/repositories/",
        views.team_access_add,
        name="team-access-add",
    ),
    path(
        "orgs/<str:name>/teams/<str:team>/repositories/<int:pk>/remove/",
        views.team_access_delete,
        name="team-access-delete",
    ),
    path("orgs/<str:name>/teams/<str:team>/delete/", views.team_delete, name="team-delete"),
    path("orgs/<str:name>/settings/", views.organization_settings, name="organization-settings"),
    path("settings/", views.settings_account, name="settings-account"),
    path("settings/tokens/", views.access_token_list, name="access-token-list"),
    path("settings/tokens/<int:pk>/revoke/", views.access_token_revoke, name="access-token-revoke"),
    path("settings/organizations/", views.settings_organizations, name="settings-organizations"),
]
