"""Public profiles of users and organizations; an organization's members
and teams, which only its members see."""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated

from .. import services
from ..models import Organization
from . import serializers


def _organization(name):
    return get_object_or_404(Organization.objects.select_related("namespace"), namespace__name=name)


@extend_schema(tags=["users"])
class UserDetail(generics.RetrieveAPIView):
    serializer_class = serializers.UserSerializer
    queryset = get_user_model().objects.filter(is_active=True)
    lookup_field = "username"


@extend_schema(tags=["orgs"])
class OrganizationDetail(generics.RetrieveAPIView):
    serializer_class = serializers.OrganizationSerializer

    def get_object(self):
        return _organization(self.kwargs["name"])


@extend_schema(tags=["orgs"])
class MemberList(generics.ListAPIView):
    """The organization's members: for its members only."""

    serializer_class = serializers.MembershipSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        return services.organization_member_list(
            organization=_organization(self.kwargs["name"]), viewer=self.request.user
        )


@extend_schema(tags=["orgs"])
class TeamList(generics.ListAPIView):
    """The organization's teams and their members: for its members only."""

    serializer_class = serializers.TeamSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        return services.organization_team_list(
            organization=_organization(self.kwargs["name"]), viewer=self.request.user
        )
