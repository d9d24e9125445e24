"""Who sees what: the API answers a private repository the caller cannot
read exactly like a missing one."""

import pytest

from accounts import services as account_services
from accounts.models import Namespace
from repositories import services
from repositories.models import Permission, TeamAccess

from .helpers import bearer_client, repo_path, session_client


def names(response):
    assert response.status_code == 200, response.content
    return [repo["full_name"] for repo in response.json()["results"]]


@pytest.fixture
def repos(public_repo, private_repo):
    return public_repo, private_repo


def test_anonymous_lists_only_public_repositories(anonymous, repos):
    assert names(anonymous.get("/api/v1/repositories/")) == ["alice/web"]


@pytest.mark.parametrize("who", ["alice", "bob", "sam"])
def test_owner_collaborator_and_staff_list_the_private_one(request, repos, who):
    client = session_client(request.getfixturevalue({"sam": "staff"}.get(who, who)))
    assert sorted(names(client.get("/api/v1/repositories/"))) == ["alice/secret", "alice/web"]


def test_stranger_does_not_list_it(carol, repos):
    assert names(session_client(carol).get("/api/v1/repositories/")) == ["alice/web"]


@pytest.mark.parametrize("suffix", ["", "tags/", "tags/latest/", "star/"])
def test_private_repository_is_404_for_anonymous_and_strangers(anonymous, carol, repos, suffix):
    _, private = repos
    for client in (anonymous, session_client(carol), bearer_client(carol)):
        response = client.get(repo_path(private, suffix))
        assert response.status_code == 404, (suffix, response.status_code)


def test_private_repository_reads_like_a_missing_one(carol, repos):
    client = session_client(carol)
    hidden = client.get("/api/v1/repositories/alice/secret/")
    missing = client.get("/api/v1/repositories/alice/nothing-here/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_collaborator_reads_the_private_repository(bob, repos):
    response = session_client(bob).get("/api/v1/repositories/alice/secret/")
    assert response.status_code == 200
    body = response.json()
    assert body["visibility"] == "private"
    assert body["full_description"] == ""
    assert body["permissions"] == {"pull": True, "push": False, "delete": False, "admin": False}


def test_owner_sees_its_permissions(alice, repos):
    body = session_client(alice).get("/api/v1/repositories/alice/secret/").json()
    assert body["permissions"] == {"pull": True, "push": True, "delete": True, "admin": True}


def test_team_member_sees_an_organization_private_repository(alice, carol):
    organization = account_services.organization_create(name="acme", owner=alice)
    repository = services.repository_create(
        namespace=organization.namespace, name="internal", visibility="private"
    )
    team = account_services.team_create(organization=organization, name="devs")
    account_services.team_member_add(team=team, user=carol)
    assert session_client(carol).get(repo_path(repository)).status_code == 404

    TeamAccess.objects.create(repository=repository, team=team, permission=Permission.READ)
    assert session_client(carol).get(repo_path(repository)).status_code == 200


def test_user_repositories_show_private_ones_to_the_owner_only(alice, carol, repos):
    path = "/api/v1/users/alice/repositories/"
    assert sorted(names(session_client(alice).get(path))) == ["alice/secret", "alice/web"]
    assert names(session_client(carol).get(path)) == ["alice/web"]


def test_user_repositories_of_an_organization_name_is_404(alice, anonymous):
    account_services.organization_create(name="acme", owner=alice)
    assert anonymous.get("/api/v1/users/acme/repositories/").status_code == 404
    assert anonymous.get("/api/v1/orgs/acme/repositories/").status_code == 200
    assert anonymous.get("/api/v1/orgs/alice/repositories/").status_code == 404


def test_organization_repositories(alice, anonymous):
    account_services.organization_create(name="acme", owner=alice)
    for name, visibility in [("open", "public"), ("closed", "private")]:
        services.repository_create(
            namespace=Namespace.objects.get(name="acme"), name=name, visibility=visibility
        )
    assert names(anonymous.get("/api/v1/orgs/acme/repositories/")) == ["acme/open"]
    assert sorted(names(session_client(alice).get("/api/v1/orgs/acme/repositories/"))) == [
        "acme/closed",
        "acme/open",
    ]
