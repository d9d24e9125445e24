"""Repository settings (admins only), deleting with a typed name, and
creating a repository at /new/."""

import pytest

from accounts import services as account_services
from repositories import services
from repositories.models import Repository


def test_settings_update_description_and_visibility(client_for, alice, public_repo):
    client = client_for(alice)
    assert client.get("/r/alice/web/settings/").status_code == 200

    response = client.post(
        "/r/alice/web/settings/",
        {"description": "new words", "full_description": "# Hello", "visibility": "private"},
    )

    assert response.status_code == 302
    public_repo.refresh_from_db()
    assert public_repo.description == "new words"
    assert public_repo.full_description == "# Hello"
    assert public_repo.visibility == "private"
    assert client_for(None).get("/r/alice/web/").status_code == 404


def test_settings_link_to_collaborators(client_for, alice, public_repo):
    page = client_for(alice).get("/r/alice/web/settings/").content.decode()

    assert "/r/alice/web/settings/collaborators/" in page


def test_settings_are_for_admins_only(client_for, bob, public_repo):
    assert client_for(None).get("/r/alice/web/settings/").status_code == 403
    assert client_for(bob).get("/r/alice/web/settings/").status_code == 403
    response = client_for(bob).post(
        "/r/alice/web/settings/", {"description": "x", "visibility": "private"}
    )
    assert response.status_code == 403
    public_repo.refresh_from_db()
    assert public_repo.visibility == "public"


def test_delete_needs_the_typed_full_name(client_for, alice, public_repo):
    client = client_for(alice)

    response = client.post("/r/alice/web/settings/delete/", {"confirm": "web"})
    assert response.status_code == 200
    assert "Type alice/web exactly" in response.content.decode()
    assert Repository.objects.filter(pk=public_repo.pk).exists()

    response = client.post("/r/alice/web/settings/delete/", {"confirm": "alice/web"})
    assert response.status_code == 302
    assert not Repository.objects.filter(pk=public_repo.pk).exists()


def test_non_admins_cannot_delete(client_for, bob, public_repo, private_repo):
    services.collaborator_set(repository=public_repo, user=bob, permission="write")

    assert (
        client_for(bob).post("/r/alice/web/settings/delete/", {"confirm": "alice/web"}).status_code
        == 403
    )
    response = client_for(bob).post(
        "/r/alice/secret-sauce/settings/delete/", {"confirm": "alice/secret-sauce"}
    )
    assert response.status_code == 404
    assert Repository.objects.count() == 2


# Create ------------------------------------------------------------------------------


def test_create_needs_a_login(client):
    response = client.get("/new/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_create_in_own_namespace(client_for, alice):
    response = client_for(alice).post(
        "/new/",
        {"namespace": "alice", "name": "api", "visibility": "private", "description": "an API"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/r/alice/api/"
    repository = Repository.objects.get(namespace__name="alice", name="api")
    assert repository.visibility == "private"
    assert repository.description == "an API"


@pytest.mark.parametrize(
    ("name", "message"),
    [("Bad Name", "Use lowercase letters"), ("web", "alice/web already exists")],
)
def test_create_shows_name_errors(client_for, alice, public_repo, name, message):
    response = client_for(alice).post(
        "/new/", {"namespace": "alice", "name": name, "visibility": "public"}
    )

    assert response.status_code == 200
    assert message in response.content.decode()


def test_create_offers_organizations_the_user_may_create_in(client_for, alice, bob):
    acme = account_services.organization_create(name="acme", owner=alice)
    account_services.organization_create(name="other", owner=bob)

    page = client_for(alice).get("/new/").content.decode()
    assert 'value="acme"' in page
    assert 'value="other"' not in page

    response = client_for(alice).post(
        "/new/", {"namespace": "other", "name": "x", "visibility": "public"}
    )
    assert response.status_code == 200
    assert not Repository.objects.filter(name="x").exists()

    response = client_for(alice).post(
        "/new/", {"namespace": "acme", "name": "tool", "visibility": "public"}
    )
    assert response.status_code == 302
    repository = Repository.objects.get(namespace=acme.namespace, name="tool")
    assert repository.collaborators.filter(user=alice, permission="admin").exists()
