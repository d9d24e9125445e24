"""Creating, changing and deleting repositories: who may, and what a refusal says."""

import pytest

from accounts import services as account_services
from accounts.models import Namespace
from repositories.models import Permission, Repository

from .helpers import as_json, collaborate, repo_path, session_client


def create(client, namespace, name, **fields):
    return as_json(
        client, "post", "/api/v1/repositories/", {"namespace": namespace, "name": name, **fields}
    )


# Create -------------------------------------------------------------------


def test_create_in_own_namespace(alice):
    response = create(
        session_client(alice), "alice", "tools", description="CLI tools", visibility="private"
    )
    assert response.status_code == 201, response.content
    assert response.headers["Location"] == "/api/v1/repositories/alice/tools/"
    body = response.json()
    assert (body["full_name"], body["visibility"], body["description"]) == (
        "alice/tools",
        "private",
        "CLI tools",
    )
    repository = Repository.objects.get(namespace__name="alice", name="tools")
    assert repository.visibility == "private"


def test_create_takes_the_namespace_default_visibility(alice):
    Namespace.objects.filter(name="alice").update(default_visibility="private")
    response = create(session_client(alice), "alice", "tools")
    assert response.json()["visibility"] == "private"


def test_create_with_a_nested_name(alice):
    response = create(session_client(alice), "alice", "tools/cli")
    assert response.status_code == 201
    assert session_client(alice).get(response.headers["Location"]).status_code == 200


def test_create_in_someone_elses_namespace_is_403(alice, carol):
    response = create(session_client(carol), "alice", "tools")
    assert response.status_code == 403
    assert not Repository.objects.filter(name="tools").exists()


def test_create_in_an_organization(alice, carol):
    organization = account_services.organization_create(name="acme", owner=alice)
    assert create(session_client(carol), "acme", "one").status_code == 403

    account_services.membership_set(organization=organization, user=carol, role="member")
    assert create(session_client(carol), "acme", "one").status_code == 201

    organization.members_can_create_repositories = False
    organization.save()
    assert create(session_client(carol), "acme", "two").status_code == 403
    assert create(session_client(alice), "acme", "two").status_code == 201


def test_create_in_an_unknown_namespace_is_400(alice):
    response = create(session_client(alice), "nobody", "tools")
    assert response.status_code == 400
    assert "namespace" in response.json()


@pytest.mark.parametrize("name", ["Tools", "-tools", "to..ols", "tools/"])
def test_create_explains_a_bad_name(alice, name):
    response = create(session_client(alice), "alice", name)
    assert response.status_code == 400
    assert "lowercase letters" in response.json()["name"][0]


def test_create_refuses_a_taken_name(alice, public_repo):
    response = create(session_client(alice), "alice", "web")
    assert response.status_code == 400
    assert response.json() == {"name": ["alice/web already exists."]}


def test_create_refuses_an_unknown_visibility(alice):
    response = create(session_client(alice), "alice", "tools", visibility="secret")
    assert response.status_code == 400
    assert "visibility" in response.json()


# Update -------------------------------------------------------------------


def test_owner_updates_description_and_visibility(alice, public_repo):
    response = as_json(
        session_client(alice),
        "patch",
        repo_path(public_repo),
        {"description": "New", "full_description": "# Long", "visibility": "private"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["visibility"] == "private"
    public_repo.refresh_from_db()
    assert (public_repo.description, public_repo.full_description, public_repo.visibility) == (
        "New",
        "# Long",
        "private",
    )


@pytest.mark.parametrize("permission", [Permission.READ, Permission.WRITE])
def test_non_admin_collaborators_cannot_update(bob, public_repo, permission):
    collaborate(public_repo, bob, permission)
    response = as_json(session_client(bob), "patch", repo_path(public_repo), {"description": "x"})
    assert response.status_code == 403
    public_repo.refresh_from_db()
    assert public_repo.description == "A public web server"


def test_admin_collaborator_updates(bob, public_repo):
    collaborate(public_repo, bob, Permission.ADMIN)
    response = as_json(session_client(bob), "patch", repo_path(public_repo), {"description": "x"})
    assert response.status_code == 200


def test_stranger_updating_a_private_repository_gets_404(carol, private_repo):
    response = as_json(
        session_client(carol), "patch", repo_path(private_repo), {"visibility": "public"}
    )
    assert response.status_code == 404
    private_repo.refresh_from_db()
    assert private_repo.visibility == "private"


def test_only_staff_mark_a_repository_official(alice, staff, public_repo):
    refused = as_json(session_client(alice), "patch", repo_path(public_repo), {"is_official": True})
    assert refused.status_code == 403
    public_repo.refresh_from_db()
    assert public_repo.is_official is False

    allowed = as_json(session_client(staff), "patch", repo_path(public_repo), {"is_official": True})
    assert allowed.status_code == 200
    assert allowed.json()["is_official"] is True
    public_repo.refresh_from_db()
    assert public_repo.is_official is True


def test_update_refuses_an_unknown_visibility(alice, public_repo):
    response = as_json(session_client(alice), "patch", repo_path(public_repo), {"visibility": "x"})
    assert response.status_code == 400


def test_put_is_not_offered(alice, public_repo):
    response = as_json(session_client(alice), "put", repo_path(public_repo), {"description": "x"})
    assert response.status_code == 405


# Delete -------------------------------------------------------------------


def test_owner_deletes(alice, public_repo):
    assert session_client(alice).delete(repo_path(public_repo)).status_code == 204
    assert not Repository.objects.filter(pk=public_repo.pk).exists()
    assert session_client(alice).get(repo_path(public_repo)).status_code == 404


@pytest.mark.parametrize("permission", [Permission.READ, Permission.WRITE])
def test_non_admin_collaborators_cannot_delete(bob, public_repo, permission):
    collaborate(public_repo, bob, permission)
    assert session_client(bob).delete(repo_path(public_repo)).status_code == 403
    assert Repository.objects.filter(pk=public_repo.pk).exists()


def test_admin_collaborator_deletes(bob, public_repo):
    collaborate(public_repo, bob, Permission.ADMIN)
    assert session_client(bob).delete(repo_path(public_repo)).status_code == 204


def test_stranger_deleting_a_private_repository_gets_404(carol, private_repo):
    assert session_client(carol).delete(repo_path(private_repo)).status_code == 404
    assert Repository.objects.filter(pk=private_repo.pk).exists()
