"""The Django admin for staff."""

import pytest
from django.contrib.auth import get_user_model

from accounts import services
from accounts.models import Namespace
from repositories import services as repository_services
from repositories.models import Collaborator, Repository, TeamAccess

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def add_user(admin_client, username):
    return admin_client.post(
        "/admin/accounts/user/add/",
        {
            "username": username,
            "password1": "a long passphrase 1",
            "password2": "a long passphrase 1",
            "usable_password": "true",
        },
    )


def test_adding_a_user_in_the_admin_gives_it_a_namespace(admin_client):
    response = add_user(admin_client, "Grace")

    assert response.status_code == 302
    user = get_user_model().objects.get(username="grace")
    assert Namespace.objects.get(name="grace").user == user


@pytest.mark.parametrize(
    ("username", "message"),
    [("library", "is reserved"), ("acme", "is already taken")],
)
def test_the_admin_refuses_names_that_cannot_be_namespaces(admin_client, acme, username, message):
    response = add_user(admin_client, username)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not get_user_model().objects.filter(username=username).exists()


def test_usernames_cannot_be_changed_in_the_admin(admin_client, alice):
    page = admin_client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()

    assert 'name="username"' not in page


def test_token_admin_lists_and_revokes_but_never_shows_the_hash(admin_client, alice):
    token, secret = services.access_token_create(user=alice, name="ci", scope="write")

    listing = admin_client.get("/admin/accounts/accesstoken/").content.decode()
    detail = admin_client.get(f"/admin/accounts/accesstoken/{token.pk}/change/").content.decode()

    assert "ci" in listing and token.prefix in listing
    for page in (listing, detail):
        assert token.secret_hash not in page
        assert secret not in page
    assert admin_client.get("/admin/accounts/accesstoken/add/").status_code == 403

    response = admin_client.post(
        "/admin/accounts/accesstoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert services.access_token_authenticate(secret=secret) is None


def test_organization_admin_shows_members_and_keeps_an_owner(admin_client, acme, alice):
    url = f"/admin/accounts/organization/{acme.pk}/change/"
    membership = acme.memberships.get()
    page = admin_client.get(url).content.decode()
    assert f'name="memberships-0-user" value="{alice.pk}"' in page
    response = admin_client.post(
        url,
        {
            "display_name": "",
            "description": "",
            "members_can_create_repositories": "on",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": membership.pk,
            "memberships-0-organization": acme.pk,
            "memberships-0-user": alice.pk,
            "memberships-0-role": "member",
        },
    )

    assert response.status_code == 200
    assert "An organization needs at least one owner." in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == "owner"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/accounts/organization/",
        "/admin/accounts/team/",
        "/admin/accounts/namespace/",
        "/admin/repositories/collaborator/",
        "/admin/repositories/teamaccess/",
        "/admin/repositories/repository/",
    ],
)
def test_admin_lists_render(admin_client, acme, path):
    services.team_create(organization=acme, name="devs")

    assert admin_client.get(path).status_code == 200


def test_the_official_flag_is_editable_in_the_repository_list(
    admin_client, alice, make_repository, django_capture_on_commit_callbacks
):
    repository = make_repository(alice.namespace, "base")
    assert not repository_services.repository_find(name="alice/base").is_official

    page = admin_client.get("/admin/repositories/repository/").content.decode()
    assert 'name="form-0-is_official"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/repositories/repository/",
            {
                "form-TOTAL_FORMS": "1",
                "form-INITIAL_FORMS": "1",
                "form-MIN_NUM_FORMS": "0",
                "form-MAX_NUM_FORMS": "1000",
                "form-0-id": repository.pk,
                "form-0-is_official": "on",
                "_save": "Save",
            },
        )

    assert response.status_code == 302
    repository.refresh_from_db()
    assert repository.is_official
    # Through repository_update, which drops the registry's cached copy.
    assert repository_services.repository_find(name="alice/base").is_official


def test_collaborators_added_in_the_admin_are_checked(admin_client, alice, bob, make_repository):
    repository = make_repository(alice.namespace, "app", visibility="private")

    response = admin_client.post(
        "/admin/repositories/collaborator/add/",
        {"repository": repository.pk, "user": alice.pk, "permission": "read"},
    )
    assert response.status_code == 200
    assert "alice owns alice/app already." in response.content.decode()

    response = admin_client.post(
        "/admin/repositories/collaborator/add/",
        {"repository": repository.pk, "user": bob.pk, "permission": "write"},
    )
    assert response.status_code == 302
    assert Collaborator.objects.get(repository=repository).user == bob


def test_team_access_added_in_the_admin_stays_in_the_organization(
    admin_client, alice, acme, make_repository
):
    team = services.team_create(organization=acme, name="devs")
    elsewhere = make_repository(alice.namespace, "app")
    inside = make_repository(acme.namespace, "api")

    response = admin_client.post(
        "/admin/repositories/teamaccess/add/",
        {"team": team.pk, "repository": elsewhere.pk, "permission": "read"},
    )
    assert response.status_code == 200
    assert "only repositories of its own organization" in response.content.decode()

    response = admin_client.post(
        "/admin/repositories/teamaccess/add/",
        {"team": team.pk, "repository": inside.pk, "permission": "read"},
    )
    assert response.status_code == 302
    assert TeamAccess.objects.get().repository == inside


def test_deleting_a_repository_in_the_admin_goes_through_the_service(
    admin_client, alice, make_repository, django_capture_on_commit_callbacks
):
    repository = make_repository(alice.namespace, "gone")
    assert repository_services.repository_find(name="alice/gone") is not None

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/repositories/repository/{repository.pk}/delete/", {"post": "yes"}
        )

    assert response.status_code == 302
    assert not Repository.objects.filter(pk=repository.pk).exists()
    assert repository_services.repository_find(name="alice/gone") is None
