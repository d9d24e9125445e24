"""Public profiles of users and organizations; members and teams for members only."""

import pytest

from accounts import services as account_services

from .helpers import session_client


@pytest.fixture
def acme(alice, bob):
    organization = account_services.organization_create(
        name="acme", owner=alice, display_name="Acme Inc.", description="Anvils"
    )
    team = account_services.team_create(organization=organization, name="devs")
    account_services.team_member_add(team=team, user=bob)
    return organization


def test_user_profile_is_public_without_email(client, alice):
    alice.first_name, alice.last_name = "Alice", "Liddell"
    alice.save()
    response = client.get("/api/v1/users/alice/")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["full_name"] == "Alice Liddell"
    assert "email" not in body
    assert "alice@example.com" not in response.content.decode()


def test_inactive_and_unknown_users_are_404(client, alice):
    alice.is_active = False
    alice.save()
    assert client.get("/api/v1/users/alice/").status_code == 404
    assert client.get("/api/v1/users/nobody/").status_code == 404


def test_organization_profile(client, acme):
    response = client.get("/api/v1/orgs/acme/")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["display_name"], body["description"]) == (
        "acme",
        "Acme Inc.",
        "Anvils",
    )
    assert client.get("/api/v1/orgs/nothing/").status_code == 404


def test_members_are_shown_to_members(acme, bob):
    client = session_client(bob)
    response = client.get("/api/v1/orgs/acme/members/")
    assert response.status_code == 200
    members = {m["username"]: m["role"] for m in response.json()["results"]}
    assert members == {"alice": "owner", "bob": "member"}


def test_teams_are_shown_to_members(acme, alice):
    response = session_client(alice).get("/api/v1/orgs/acme/teams/")
    assert response.status_code == 200
    (team,) = response.json()["results"]
    assert (team["name"], team["members"]) == ("devs", ["bob"])


@pytest.mark.parametrize("what", ["members", "teams"])
def test_members_and_teams_are_hidden_from_others(client, acme, carol, staff, what):
    assert client.get(f"/api/v1/orgs/acme/{what}/").status_code == 401
    assert session_client(carol).get(f"/api/v1/orgs/acme/{what}/").status_code == 403
    assert session_client(staff).get(f"/api/v1/orgs/acme/{what}/").status_code == 200
