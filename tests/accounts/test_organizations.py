"""Organizations on the web: creating one, members and their roles, teams
and their repositories, the organization's settings."""

import pytest

from accounts import services
from accounts.models import Membership, Namespace, Organization, Team
from repositories import permissions
from repositories.models import TeamAccess

pytestmark = pytest.mark.django_db


def role_of(organization, user):
    return (
        Membership.objects.filter(organization=organization, user=user)
        .values_list("role", flat=True)
        .first()
    )


# Creating -------------------------------------------------------------------------


def test_create_an_organization(client_for, bob):
    response = client_for(bob).post(
        "/orgs/new/", {"name": "Widgets", "display_name": "Widgets Inc.", "description": ""}
    )

    assert response.status_code == 302
    assert response["Location"] == "/orgs/widgets/"
    organization = Organization.objects.get(namespace__name="widgets")
    assert organization.namespace.kind == Namespace.Kind.ORGANIZATION
    assert organization.display_name == "Widgets Inc."
    assert role_of(organization, bob) == Membership.Role.OWNER


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("library", "“library” is reserved. Please choose another name."),
        ("alice", "The name “alice” is already taken."),
        ("acme", "The name “acme” is already taken."),
        ("a", "Use between 2 and 30 characters."),
    ],
)
def test_create_refuses_names_that_cannot_be_namespaces(client_for, bob, acme, name, message):
    response = client_for(bob).post("/orgs/new/", {"name": name})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert Organization.objects.count() == 1


def test_creating_needs_an_account(client):
    response = client.post("/orgs/new/", {"name": "widgets"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Organization.objects.exists()


def test_settings_lists_my_organizations(client_for, alice, acme):
    page = client_for(alice).get("/settings/organizations/").content.decode()

    assert 'href="/orgs/acme/"' in page
    assert "Owner" in page


# Members ----------------------------------------------------------------------------


def test_an_owner_adds_a_member_by_username(client_for, alice, bob, acme):
    response = client_for(alice).post("/orgs/acme/members/", {"user": "bob", "role": "member"})

    assert response.status_code == 302
    assert role_of(acme, bob) == Membership.Role.MEMBER
    page = client_for(alice).get("/orgs/acme/members/").content.decode()
    assert 'href="/u/bob/"' in page


def test_adding_an_unknown_user_says_so(client_for, alice, acme):
    response = client_for(alice).post("/orgs/acme/members/", {"user": "ghost", "role": "member"})

    assert response.status_code == 200
    assert "There is no user called “ghost”." in response.content.decode()


def test_an_owner_changes_roles(client_for, alice, bob, acme):
    services.membership_set(organization=acme, user=bob, role="member")
    client = client_for(alice)

    client.post("/orgs/acme/members/bob/", {"role": "owner"})
    assert role_of(acme, bob) == Membership.Role.OWNER

    client.post("/orgs/acme/members/bob/", {"role": "member"})
    assert role_of(acme, bob) == Membership.Role.MEMBER


def test_the_last_owner_cannot_be_demoted_or_removed(client_for, alice, acme):
    client = client_for(alice)

    response = client.post("/orgs/acme/members/alice/", {"role": "member"}, follow=True)
    assert "An organization needs at least one owner." in response.content.decode()
    assert role_of(acme, alice) == Membership.Role.OWNER

    response = client.post("/orgs/acme/members/alice/", {"remove": "1"}, follow=True)
    assert "An organization needs at least one owner." in response.content.decode()
    assert role_of(acme, alice) == Membership.Role.OWNER


def test_an_owner_can_leave_once_there_is_another(client_for, alice, bob, acme):
    services.membership_set(organization=acme, user=bob, role="owner")

    response = client_for(alice).post("/orgs/acme/members/alice/", {"remove": "1"})

    assert response.status_code == 302
    assert response["Location"] == "/orgs/acme/"
    assert role_of(acme, alice) is None


def test_an_owner_removes_a_member_and_their_teams(client_for, alice, bob, acme):
    team = services.team_create(organization=acme, name="devs")
    services.team_member_add(team=team, user=bob)

    client_for(alice).post("/orgs/acme/members/bob/", {"remove": "1"})

    assert role_of(acme, bob) is None
    assert not team.members.filter(pk=bob.pk).exists()


def test_members_may_look_and_leave_but_not_manage(client_for, acme, bob, carol):
    services.membership_set(organization=acme, user=bob, role="member")
    client = client_for(bob)

    page = client.get("/orgs/acme/members/").content.decode()
    assert 'href="/u/alice/"' in page
    assert 'name="role"' not in page
    assert (
        client.post("/orgs/acme/members/", {"user": "carol", "role": "member"}).status_code == 403
    )
    assert client.post("/orgs/acme/members/alice/", {"remove": "1"}).status_code == 403
    assert client.post("/orgs/acme/members/bob/", {"role": "owner"}).status_code == 403
    assert role_of(acme, carol) is None
    assert role_of(acme, bob) == Membership.Role.MEMBER

    response = client.post("/orgs/acme/members/bob/", {"remove": "1"})
    assert response.status_code == 302
    assert role_of(acme, bob) is None


def test_outsiders_see_no_members_page_teams_or_settings(client_for, acme, bob):
    team = services.team_create(organization=acme, name="devs")
    client = client_for(bob)

    for path in ("/orgs/acme/members/", "/orgs/acme/teams/", "/orgs/acme/settings/"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/orgs/acme/teams/{team.name}/").status_code == 404
    assert client.post("/orgs/acme/members/", {"user": "bob", "role": "owner"}).status_code == 404
    assert role_of(acme, bob) is None


# Teams --------------------------------------------------------------------------------


def test_an_owner_creates_a_team(client_for, alice, acme):
    response = client_for(alice).post(
        "/orgs/acme/teams/", {"name": "backend", "description": "APIs"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/orgs/acme/teams/backend/"
    assert Team.objects.get(organization=acme, name="backend").description == "APIs"


@pytest.mark.parametrize(
    ("name", "message"),
    [("devs", "There is already a team called “devs”."), ("a/b", "Use letters, digits")],
)
def test_team_names_are_checked(client_for, alice, acme, name, message):
    services.team_create(organization=acme, name="devs")

    response = client_for(alice).post("/orgs/acme/teams/", {"name": name})

    assert message in response.content.decode()
    assert Team.objects.count() == 1


def test_team_members_and_repository_permissions(client_for, alice, bob, acme, make_repository):
    repository = make_repository(acme.namespace, "billing", visibility="private")
    team = services.team_create(organization=acme, name="finance")
    client = client_for(alice)
    base = "/orgs/acme/teams/finance/"

    # Adding someone from outside makes them a member of the organization.
    client.post(f"{base}members/", {"user": "bob"})
    assert team.members.filter(pk=bob.pk).exists()
    assert role_of(acme, bob) == Membership.Role.MEMBER
    assert not permissions.can(bob, repository, "pull")

    client.post(f"{base}repositories/", {"repository": repository.pk, "permission": "write"})
    access = TeamAccess.objects.get(team=team, repository=repository)
    assert access.permission == "write"
    assert permissions.can(bob, repository, "push")
    assert not permissions.can(bob, repository, "delete")

    page = client.get(base).content.decode()
    assert "acme/billing" in page
    assert 'href="/u/bob/"' in page

    client.post(f"{base}repositories/{access.pk}/remove/")
    assert not TeamAccess.objects.exists()
    assert not permissions.can(bob, repository, "pull")

    client.post(f"{base}repositories/", {"repository": repository.pk, "permission": "read"})
    client.post(f"{base}members/bob/remove/")
    assert not team.members.exists()
    assert role_of(acme, bob) == Membership.Role.MEMBER
    assert not permissions.can(bob, repository, "pull")


def test_a_team_cannot_be_given_another_namespaces_repository(
    client_for, alice, acme, make_repository
):
    own = make_repository(alice.namespace, "mine")
    services.team_create(organization=acme, name="devs")

    response = client_for(alice).post(
        "/orgs/acme/teams/devs/repositories/", {"repository": own.pk, "permission": "admin"}
    )

    assert response.status_code == 302
    assert not TeamAccess.objects.exists()


def test_members_see_teams_but_cannot_change_them(client_for, acme, bob, carol):
    team = services.team_create(organization=acme, name="devs")
    services.team_member_add(team=team, user=bob)
    client = client_for(bob)

    assert client.get("/orgs/acme/teams/devs/").status_code == 200
    assert client.post("/orgs/acme/teams/", {"name": "rogue"}).status_code == 403
    assert client.post("/orgs/acme/teams/devs/members/", {"user": "carol"}).status_code == 403
    assert client.post("/orgs/acme/teams/devs/delete/").status_code == 403
    assert not team.members.filter(pk=carol.pk).exists()
    assert Team.objects.filter(name="devs").exists()
    assert not Team.objects.filter(name="rogue").exists()


def test_an_owner_deletes_a_team(client_for, alice, acme):
    services.team_create(organization=acme, name="devs")

    response = client_for(alice).post("/orgs/acme/teams/devs/delete/")

    assert response["Location"] == "/orgs/acme/teams/"
    assert not Team.objects.exists()


# Settings -------------------------------------------------------------------------------


def test_owners_change_the_organizations_settings(client_for, alice, acme):
    assert acme.members_can_create_repositories

    response = client_for(alice).post(
        "/orgs/acme/settings/",
        {
            "display_name": "ACME Corp.",
            "description": "Anvils",
            "default_visibility": "private",
        },
    )

    assert response.status_code == 302
    acme.refresh_from_db()
    acme.namespace.refresh_from_db()
    assert acme.display_name == "ACME Corp."
    assert not acme.members_can_create_repositories
    assert acme.namespace.default_visibility == "private"


def test_members_can_create_repositories_decides_who_creates(client_for, alice, bob, acme):
    services.membership_set(organization=acme, user=bob, role="member")
    assert permissions.can_create_in(bob, acme.namespace)

    client_for(alice).post("/orgs/acme/settings/", {"default_visibility": "public"})

    acme.namespace.organization.refresh_from_db()
    assert not permissions.can_create_in(bob, acme.namespace)
    assert permissions.can_create_in(alice, acme.namespace)


def test_members_cannot_change_settings(client_for, acme, bob):
    services.membership_set(organization=acme, user=bob, role="member")

    response = client_for(bob).post(
        "/orgs/acme/settings/", {"display_name": "Mine", "default_visibility": "private"}
    )

    assert response.status_code == 403
    acme.refresh_from_db()
    assert acme.display_name == ""
