"""The service functions the account pages call."""

import pytest
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import Membership
from repositories import services as repository_services
from repositories.models import Collaborator, TeamAccess

pytestmark = pytest.mark.django_db


def test_membership_set_keeps_an_owner(acme, alice, bob):
    with pytest.raises(ValidationError, match="at least one owner"):
        services.membership_set(organization=acme, user=alice, role="member")

    services.membership_set(organization=acme, user=bob, role="owner")
    services.membership_set(organization=acme, user=alice, role="member")

    roles = dict(acme.memberships.values_list("user__username", "role"))
    assert roles == {"alice": "member", "bob": "owner"}


def test_membership_set_refuses_unknown_roles(acme, bob):
    with pytest.raises(ValidationError, match="Unknown role"):
        services.membership_set(organization=acme, user=bob, role="emperor")
    assert not Membership.objects.filter(user=bob).exists()


def test_namespace_update_refuses_unknown_visibility(alice):
    with pytest.raises(ValidationError):
        services.namespace_update(namespace=alice.namespace, default_visibility="hidden")

    services.namespace_update(namespace=alice.namespace, default_visibility="private")
    alice.namespace.refresh_from_db()
    assert alice.namespace.default_visibility == "private"


def test_organization_update(acme):
    services.organization_update(
        organization=acme,
        display_name="ACME",
        description="Anvils",
        members_can_create_repositories=False,
        default_visibility="private",
    )

    acme.refresh_from_db()
    acme.namespace.refresh_from_db()
    assert (acme.display_name, acme.description) == ("ACME", "Anvils")
    assert acme.members_can_create_repositories is False
    assert acme.namespace.default_visibility == "private"


def test_team_member_remove_keeps_the_membership(acme, bob):
    team = services.team_create(organization=acme, name="devs")
    services.team_member_add(team=team, user=bob)

    services.team_member_remove(team=team, user=bob)

    assert not team.members.exists()
    assert acme.memberships.filter(user=bob).exists()


def test_team_delete_takes_its_grants(acme, make_repository):
    team = services.team_create(organization=acme, name="devs")
    repository = make_repository(acme.namespace, "api")
    repository_services.team_access_set(team=team, repository=repository, permission="read")

    services.team_delete(team=team)

    assert not TeamAccess.objects.exists()


def test_team_access_set_stays_in_the_organization(acme, alice, make_repository):
    team = services.team_create(organization=acme, name="devs")
    repository = make_repository(alice.namespace, "mine")

    with pytest.raises(ValidationError, match="its own organization"):
        repository_services.team_access_set(team=team, repository=repository, permission="read")


def test_team_access_set_changes_the_permission(acme, make_repository):
    team = services.team_create(organization=acme, name="devs")
    repository = make_repository(acme.namespace, "api")

    repository_services.team_access_set(team=team, repository=repository, permission="read")
    repository_services.team_access_set(team=team, repository=repository, permission="admin")

    assert TeamAccess.objects.get().permission == "admin"
    assert repository_services.team_access_remove(team=team, repository=repository)
    assert not repository_services.team_access_remove(team=team, repository=repository)


def test_collaborator_set_checks_permission_and_owner(alice, bob, make_repository):
    repository = make_repository(alice.namespace, "app")

    with pytest.raises(ValidationError, match="Unknown permission"):
        repository_services.collaborator_set(repository=repository, user=bob, permission="root")
    with pytest.raises(ValidationError, match="owns"):
        repository_services.collaborator_set(repository=repository, user=alice, permission="read")

    repository_services.collaborator_set(repository=repository, user=bob, permission="read")
    repository_services.collaborator_set(repository=repository, user=bob, permission="write")
    assert Collaborator.objects.get().permission == "write"
    assert repository_services.collaborator_remove(repository=repository, user=bob)
    assert not Collaborator.objects.exists()
