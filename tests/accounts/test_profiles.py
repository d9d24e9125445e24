"""Public profile pages (/u/<name>/) and organization pages (/orgs/<name>/)
show only the repositories their viewer may read."""

import pytest

from accounts import services
from repositories import services as repository_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_repositories(alice, make_repository):
    return (
        make_repository(alice.namespace, "web", description="the web front"),
        make_repository(alice.namespace, "secret-sauce", visibility="private"),
    )


def test_profile_shows_name_join_date_and_public_repositories(client, alice, alice_repositories):
    response = client.get("/u/alice/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>alice</h1>" in page
    assert f'Joined <time datetime="{alice.date_joined.isoformat()}' in page
    assert "alice/web" in page
    assert "the web front" in page
    assert "secret-sauce" not in page


def test_another_user_does_not_see_private_repositories(client_for, bob, alice_repositories):
    page = client_for(bob).get("/u/alice/").content.decode()

    assert "alice/web" in page
    assert "secret-sauce" not in page


def test_the_owner_sees_their_private_repositories(client_for, alice, alice_repositories):
    page = client_for(alice).get("/u/alice/").content.decode()

    assert "alice/secret-sauce" in page
    assert "Private" in page
    assert "/r/alice/secret-sauce/settings/collaborators/" in page


def test_a_collaborator_sees_the_private_repository_they_were_given(
    client_for, alice, bob, alice_repositories
):
    _, private = alice_repositories
    repository_services.collaborator_set(repository=private, user=bob, permission="read")

    page = client_for(bob).get("/u/alice/").content.decode()

    assert "alice/secret-sauce" in page
    # Read access is not admin access.
    assert "/r/alice/secret-sauce/settings/" not in page


def test_an_unknown_user_is_404(client):
    assert client.get("/u/nobody/").status_code == 404


def test_an_inactive_user_is_404(client, alice):
    alice.is_active = False
    alice.save()

    assert client.get("/u/alice/").status_code == 404


def test_a_user_page_for_an_organization_leads_to_the_organization(client, acme):
    response = client.get("/u/acme/")

    assert response.status_code == 302
    assert response["Location"] == "/orgs/acme/"


@pytest.fixture
def acme_repositories(acme, make_repository):
    return (
        make_repository(acme.namespace, "api-server"),
        make_repository(acme.namespace, "billing", visibility="private"),
    )


def test_organization_page_shows_public_repositories_to_anyone(
    client, alice, acme, acme_repositories
):
    response = client.get("/orgs/acme/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "acme/api-server" in page
    assert "billing" not in page
    # Members, teams and settings are for members.
    assert 'href="/u/alice/"' not in page
    assert "/orgs/acme/members/" not in page
    assert "/orgs/acme/teams/" not in page
    assert "/orgs/acme/settings/" not in page


def test_outsiders_who_are_signed_in_see_no_members_either(client_for, bob, acme_repositories):
    page = client_for(bob).get("/orgs/acme/").content.decode()

    assert "acme/api-server" in page
    assert 'href="/u/alice/"' not in page


def test_organization_page_shows_private_repositories_to_owners(
    client_for, alice, acme_repositories
):
    page = client_for(alice).get("/orgs/acme/").content.decode()

    assert "acme/billing" in page
    assert 'href="/u/alice/"' in page
    assert "/orgs/acme/settings/" in page


def test_a_member_sees_private_repositories_only_through_a_team(
    client_for, acme, bob, acme_repositories
):
    _, billing = acme_repositories
    services.membership_set(organization=acme, user=bob, role="member")
    client = client_for(bob)

    page = client.get("/orgs/acme/").content.decode()
    assert "billing" not in page
    assert "/orgs/acme/teams/" in page

    team = services.team_create(organization=acme, name="finance")
    services.team_member_add(team=team, user=bob)
    repository_services.team_access_set(team=team, repository=billing, permission="read")

    page = client.get("/orgs/acme/").content.decode()
    assert "acme/billing" in page
    assert "finance" in page


def test_an_unknown_organization_is_404(client, alice):
    assert client.get("/orgs/nothing/").status_code == 404
    # A user's namespace is not an organization.
    assert client.get("/orgs/alice/").status_code == 404
