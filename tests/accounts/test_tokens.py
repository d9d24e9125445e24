"""Personal access tokens and registry client logins on /settings/tokens/."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import AccessToken

pytestmark = pytest.mark.django_db

URL = "/settings/tokens/"


def create(client, **fields):
    data = {"name": "CI", "scope": "write", "expiry": "30", **fields}
    return client.post(URL, data)


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_create_shows_the_secret_once_and_keeps_only_its_hash(client_for, alice):
    client = client_for(alice)

    response = create(client, name="laptop", scope="full", expiry="none")

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    token = AccessToken.objects.get(user=alice)
    secret = response.context["secret"]
    assert secret.startswith(services.TOKEN_PREFIX)
    assert f'value="{secret}"' in page
    assert "docker login testserver -u alice --password-stdin" in page
    assert token.name == "laptop"
    assert token.scope == AccessToken.Scope.FULL
    assert token.kind == AccessToken.Kind.PERSONAL
    assert token.expires_at is None
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {str(value) for value in vars(token).values()}
    assert secret.startswith(token.prefix)
    # It works as a registry password.
    assert services.access_token_authenticate(secret=secret) == token

    listing = client.get(URL).content.decode()
    assert secret not in listing
    assert "laptop" in listing
    assert token.prefix in listing
    assert "Full: also delete, and change settings" in listing


@pytest.mark.parametrize(("expiry", "days"), [("30", 30), ("90", 90)])
def test_create_with_a_preset_expiry(client_for, alice, expiry, days):
    create(client_for(alice), expiry=expiry)

    token = AccessToken.objects.get(user=alice)
    expected = timezone.now() + timedelta(days=days)
    assert abs(token.expires_at - expected) < timedelta(minutes=1)


def test_create_with_a_chosen_date_expires_at_the_end_of_that_day(client_for, alice):
    day = timezone.localdate() + timedelta(days=200)

    response = create(client_for(alice), expiry="custom", expires_on=day.isoformat())

    assert response.status_code == 201
    token = AccessToken.objects.get(user=alice)
    assert timezone.localtime(token.expires_at).date() == day
    assert timezone.localtime(token.expires_at).hour == 23


def test_a_date_a_year_ahead_is_the_latest_accepted(client_for, alice):
    day = timezone.localdate() + timedelta(days=365)

    response = create(client_for(alice), expiry="custom", expires_on=day.isoformat())

    assert response.status_code == 201
    assert AccessToken.objects.filter(user=alice).count() == 1


def test_an_expiry_beyond_a_year_is_refused_with_a_message(client_for, alice):
    day = timezone.localdate() + timedelta(days=366)

    response = create(client_for(alice), expiry="custom", expires_on=day.isoformat())

    assert response.status_code == 200
    assert "A token may live at most a year" in response.content.decode()
    assert not AccessToken.objects.filter(user=alice).exists()


@pytest.mark.parametrize("days", [0, -3])
def test_an_expiry_date_in_the_past_is_refused(client_for, alice, days):
    day = timezone.localdate() + timedelta(days=days)

    response = create(client_for(alice), expiry="custom", expires_on=day.isoformat())

    assert "Choose a date after today." in response.content.decode()
    assert not AccessToken.objects.filter(user=alice).exists()


def test_a_chosen_expiry_needs_a_date(client_for, alice):
    response = create(client_for(alice), expiry="custom")

    assert "Choose the date the token expires." in response.content.decode()
    assert not AccessToken.objects.exists()


def test_list_shows_status_and_revoke_works(client_for, alice):
    client = client_for(alice)
    active, secret = services.access_token_create(user=alice, name="active one", scope="read")
    expired, _ = services.access_token_create(
        user=alice, name="old one", scope="read", expires_at=timezone.now() - timedelta(days=1)
    )

    page = client.get(URL).content.decode()
    assert "active one" in page and "old one" in page
    assert 'class="badge active"' in page
    assert 'class="badge expired"' in page

    response = client.post(f"/settings/tokens/{active.pk}/revoke/")

    assert response.status_code == 302
    active.refresh_from_db()
    assert active.revoked_at is not None
    assert services.access_token_authenticate(secret=secret) is None
    assert 'class="badge revoked"' in client.get(URL).content.decode()


def test_revoke_needs_post(client_for, alice):
    token, _ = services.access_token_create(user=alice, name="t", scope="read")

    response = client_for(alice).get(f"/settings/tokens/{token.pk}/revoke/")

    assert response.status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_nobody_sees_or_revokes_another_users_tokens(client_for, alice, bob):
    token, _ = services.access_token_create(user=alice, name="alice's secret", scope="read")
    client = client_for(bob)

    assert "alice&#x27;s secret" not in client.get(URL).content.decode()
    response = client.post(f"/settings/tokens/{token.pk}/revoke/")

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_registry_client_logins_are_listed_and_can_be_revoked(client_for, alice):
    client = client_for(alice)
    refresh, secret = services.refresh_token_create(user=alice, scope="full", client_id="docker")
    gone, _ = services.refresh_token_create(user=alice, scope="read", client_id="podman")
    services.access_token_revoke(token=gone)

    page = client.get(URL).content.decode()
    assert "Registry client logins" in page
    assert "<td>docker login</td>" in page
    assert refresh.prefix in page
    # Revoked client logins drop off the list.
    assert "<td>podman login</td>" not in page

    client.post(f"/settings/tokens/{refresh.pk}/revoke/")

    refresh.refresh_from_db()
    assert refresh.revoked_at is not None
    assert services.access_token_authenticate(secret=secret, kind="refresh") is None
