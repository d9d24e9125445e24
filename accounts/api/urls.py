"""User and organization routes of /api/v1/ (included by repositories.api.urls)."""

from django.urls import path

from . import views

urlpatterns = [
    path("users/<str:username>/", views.UserDetail.as_view(), name="user"),
    path("orgs/<str:name>/", views.OrganizationDetail.as_view(), name="org"),
    path("orgs/<str:name>/members/", views.MemberList.as_view(), name="org-members"),
    path("orgs/<str:name>/teams/", views.TeamList.as_view(), name="org-teams"),
]
