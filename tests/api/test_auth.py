"""The three ways in (Bearer token, Basic, session with CSRF), and how a
token's scope caps what the API lets it do."""

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AccessToken
from repositories.models import Permission, Repository

from .helpers import (
    PASSWORD,
    as_json,
    basic_client,
    bearer_client,
    collaborate,
    push_image,
    repo_path,
    session_client,
    token_for,
)

READ, WRITE, FULL = AccessToken.Scope.READ, AccessToken.Scope.WRITE, AccessToken.Scope.FULL


def create(client, name="new"):
    return as_json(client, "post", "/api/v1/repositories/", {"namespace": "alice", "name": name})


# Bearer tokens ------------------------------------------------------------


def test_bearer_token_reads_what_its_user_reads(alice, private_repo):
    response = bearer_client(alice, READ).get(repo_path(private_repo))
    assert response.status_code == 200
    assert response.json()["permissions"] == {
        "pull": True,
        "push": False,
        "delete": False,
        "admin": False,
    }


def test_read_token_cannot_change_anything(alice, public_repo):
    push_image(public_repo, "latest")
    client = bearer_client(alice, READ)
    attempts = [
        create(client),
        as_json(client, "patch", repo_path(public_repo), {"description": "changed"}),
        client.delete(repo_path(public_repo, "tags/latest/")),
        client.delete(repo_path(public_repo)),
        client.put(repo_path(public_repo, "star/")),
    ]
    assert [response.status_code for response in attempts] == [403] * 5
    public_repo.refresh_from_db()
    assert public_repo.description == "A public web server"
    assert public_repo.star_count == 0
    assert public_repo.tags.filter(name="latest").exists()
    assert not Repository.objects.filter(name="new").exists()


def test_write_token_creates_but_cannot_change_settings_or_delete(alice, public_repo):
    push_image(public_repo, "latest")
    client = bearer_client(alice, WRITE)
    assert create(client).status_code == 201
    response = as_json(client, "patch", repo_path(public_repo), {"visibility": "private"})
    assert response.status_code == 403
    response = as_json(client, "patch", repo_path(public_repo), {"description": "changed"})
    assert response.status_code == 403
    unchanged = Repository.objects.get(pk=public_repo.pk)
    assert (unchanged.visibility, unchanged.description) == ("public", public_repo.description)
    assert client.delete(repo_path(public_repo, "tags/latest/")).status_code == 403
    assert client.delete(repo_path(public_repo)).status_code == 403
    assert Repository.objects.filter(pk=public_repo.pk).exists()


def test_delete_token_deletes(alice, public_repo):
    push_image(public_repo, "latest")
    client = bearer_client(alice, FULL)
    assert client.delete(repo_path(public_repo, "tags/latest/")).status_code == 204
    assert client.delete(repo_path(public_repo)).status_code == 204
    assert not Repository.objects.filter(pk=public_repo.pk).exists()


def test_token_cannot_exceed_its_user(bob, private_repo):
    """A delete-scoped token of a read collaborator still only reads."""
    client = bearer_client(bob, FULL)
    assert client.get(repo_path(private_repo)).status_code == 200
    assert client.delete(repo_path(private_repo)).status_code == 403


@pytest.mark.parametrize(
    "header",
    ["Bearer hub_pat_not-a-real-token", "Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer "],
)
def test_unknown_bearer_token_is_401(client, public_repo, header):
    response = client.get("/api/v1/repositories/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_and_expired_tokens_are_refused(alice, client, public_repo):
    revoked, revoked_secret = account_services.access_token_create(
        user=alice, name="old", scope=READ
    )
    account_services.access_token_revoke(token=revoked)
    expired, expired_secret = account_services.access_token_create(
        user=alice, name="expired", scope=READ
    )
    AccessToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    for secret in (revoked_secret, expired_secret):
        response = client.get("/api/v1/repositories/", HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 401


def test_refresh_token_is_not_a_bearer_token_here(alice, client, public_repo):
    _, secret = account_services.refresh_token_create(user=alice, scope=READ)
    response = client.get("/api/v1/repositories/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 401


# Basic --------------------------------------------------------------------


def test_basic_with_password(alice, private_repo):
    client = basic_client("alice", PASSWORD)
    assert client.get(repo_path(private_repo)).status_code == 200
    assert create(client).status_code == 201
    assert client.delete(repo_path(private_repo)).status_code == 204


def test_basic_with_wrong_password_is_401(alice, private_repo):
    response = basic_client("alice", "wrong").get(repo_path(private_repo))
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_basic_with_token_is_capped_by_its_scope(alice, private_repo):
    client = basic_client("alice", token_for(alice, READ))
    assert client.get(repo_path(private_repo)).status_code == 200
    assert client.delete(repo_path(private_repo)).status_code == 403
    delete_client = basic_client("alice", token_for(alice, FULL))
    assert delete_client.delete(repo_path(private_repo)).status_code == 204


def test_basic_token_must_belong_to_the_username(alice, bob, private_repo):
    response = basic_client("bob", token_for(alice, READ)).get(repo_path(private_repo))
    assert response.status_code == 401


def test_repeated_failures_lock_out_with_429(alice, settings, public_repo):
    settings.AXES_FAILURE_LIMIT = 3
    wrong = basic_client("alice", "wrong")
    statuses = [wrong.get("/api/v1/repositories/").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]  # the failure that reaches the limit locks out
    locked = basic_client("alice", PASSWORD).get("/api/v1/repositories/")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) == settings.HUB_LOGIN_LOCKOUT_MINUTES * 60


# Session ------------------------------------------------------------------


def test_session_reads_without_csrf(alice, private_repo):
    client = session_client(alice, enforce_csrf_checks=True)
    assert client.get(repo_path(private_repo)).status_code == 200


def test_session_writes_need_the_csrf_token(alice, public_repo):
    client = session_client(alice, enforce_csrf_checks=True)
    refused = create(client, "first")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not Repository.objects.filter(name="first").exists()

    client.get("/api/docs/")  # any page that uses the token sets its cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/repositories/",
        {"namespace": "alice", "name": "first"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201
    assert Repository.objects.filter(namespace__name="alice", name="first").exists()


def test_anonymous_writes_are_401(client, public_repo):
    response = create(client)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert client.put(repo_path(public_repo, "star/")).status_code == 401
    assert client.delete(repo_path(public_repo)).status_code == 401


def test_write_collaborator_token_cannot_delete_tags(alice, bob, public_repo):
    push_image(public_repo, "latest")
    collaborate(public_repo, bob, Permission.WRITE)
    assert (
        bearer_client(bob, FULL).delete(repo_path(public_repo, "tags/latest/")).status_code == 403
    )
