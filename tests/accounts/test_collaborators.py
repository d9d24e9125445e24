"""/r/<namespace>/<name>/settings/collaborators/: admins manage who else may
read, write or administer a repository; others cannot even tell a private
repository exists."""

import pytest

from accounts import services
from repositories import permissions
from repositories.models import Collaborator
from repositories.services import team_access_set

pytestmark = pytest.mark.django_db


def url(repository):
    return f"/r/{repository.full_name}/settings/collaborators/"


@pytest.fixture
def private(alice, make_repository):
    return make_repository(alice.namespace, "vault", visibility="private")


@pytest.fixture
def public(alice, make_repository):
    return make_repository(alice.namespace, "tools/builder")


def test_the_owner_adds_changes_and_removes_a_collaborator(client_for, alice, bob, private):
    client = client_for(alice)
    assert not permissions.can(bob, private, "pull")

    response = client.post(url(private), {"user": "Bob", "permission": "write"})

    assert response.status_code == 302
    assert Collaborator.objects.get(repository=private, user=bob).permission == "write"
    assert permissions.can(bob, private, "push")
    assert not permissions.can(bob, private, "delete")
    page = client.get(url(private)).content.decode()
    assert 'href="/u/bob/"' in page

    client.post(f"{url(private)}bob/", {"permission": "admin"})
    assert permissions.can(bob, private, "delete")

    client.post(f"{url(private)}bob/", {"remove": "1"})
    assert not Collaborator.objects.filter(repository=private).exists()
    assert not permissions.can(bob, private, "pull")


def test_adding_an_unknown_user_says_so(client_for, alice, private):
    response = client_for(alice).post(url(private), {"user": "ghost", "permission": "read"})

    assert response.status_code == 200
    assert "There is no user called “ghost”." in response.content.decode()
    assert not Collaborator.objects.exists()


def test_the_owner_cannot_be_added_as_a_collaborator(client_for, alice, private):
    response = client_for(alice).post(url(private), {"user": "alice", "permission": "read"})

    assert "alice owns alice/vault already." in response.content.decode()
    assert not Collaborator.objects.exists()


def test_an_admin_collaborator_manages_collaborators(client_for, bob, carol, private):
    Collaborator.objects.create(repository=private, user=bob, permission="admin")

    response = client_for(bob).post(url(private), {"user": "carol", "permission": "read"})

    assert response.status_code == 302
    assert permissions.can(carol, private, "pull")


def test_a_private_repository_is_404_to_anyone_who_cannot_read_it(client_for, bob, private):
    client = client_for(bob)

    assert client.get(url(private)).status_code == 404
    assert client.post(url(private), {"user": "bob", "permission": "admin"}).status_code == 404
    assert client.post(f"{url(private)}bob/", {"remove": "1"}).status_code == 404
    assert not Collaborator.objects.exists()


def test_an_unknown_repository_is_404(client_for, bob):
    assert client_for(bob).get("/r/alice/nothing/settings/collaborators/").status_code == 404


def test_readers_and_writers_are_refused(client_for, bob, private, public):
    Collaborator.objects.create(repository=private, user=bob, permission="write")
    client = client_for(bob)

    assert client.get(url(private)).status_code == 403
    assert client.get(url(public)).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client, private):
    response = client.get(url(private))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_names_with_several_components_work(client_for, alice, bob, public):
    response = client_for(alice).post(url(public), {"user": "bob", "permission": "read"})

    assert response.status_code == 302
    assert response["Location"] == "/r/alice/tools/builder/settings/collaborators/"
    assert Collaborator.objects.filter(repository=public, user=bob).exists()


def test_organization_owners_manage_collaborators_and_see_teams(
    client_for, alice, bob, acme, make_repository
):
    repository = make_repository(acme.namespace, "infra", visibility="private")
    team = services.team_create(organization=acme, name="ops")
    team_access_set(team=team, repository=repository, permission="write")

    page = client_for(alice).get(url(repository)).content.decode()

    assert 'href="/orgs/acme/teams/ops/"' in page
    assert client_for(bob).get(url(repository)).status_code == 404
