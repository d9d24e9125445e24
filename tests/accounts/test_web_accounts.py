"""Sign-up, log-in, log-out, password reset and email verification through
allauth's pages, with Hub's namespace rules."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from accounts.models import Namespace
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db

SIGNUP_URL = "/accounts/signup/"
LOGIN_URL = "/accounts/login/"


def sign_up(client, username, email=None, password=PASSWORD):
    return client.post(
        SIGNUP_URL,
        {
            "username": username,
            "email": email or f"{username.lower()}@example.com",
            "password1": password,
            "password2": password,
        },
    )


def test_sign_up_creates_the_user_and_its_namespace(client):
    response = sign_up(client, "dana")

    assert response.status_code == 302
    user = get_user_model().objects.get(username="dana")
    namespace = Namespace.objects.get(name="dana")
    assert namespace.kind == Namespace.Kind.USER
    assert namespace.user == user
    # Signed in straight away (verification is optional by default).
    assert client.get("/settings/").status_code == 200


def test_sign_up_lowercases_the_username(client):
    sign_up(client, "Dana.Dev")

    assert get_user_model().objects.filter(username="dana.dev").exists()
    assert Namespace.objects.filter(name="dana.dev").exists()
    assert not get_user_model().objects.filter(username="Dana.Dev").exists()


@pytest.mark.parametrize("name", ["library", "v2", "v1", "api", "admin", "static"])
def test_sign_up_refuses_a_reserved_name_and_says_why(client, name):
    response = sign_up(client, name)

    assert response.status_code == 200
    assert f"“{name}” is reserved. Please choose another name." in response.content.decode()
    assert not get_user_model().objects.filter(username=name).exists()


def test_sign_up_refuses_the_name_of_an_organization(client, acme):
    response = sign_up(client, "acme")

    assert response.status_code == 200
    assert "The name “acme” is already taken." in response.content.decode()
    assert not get_user_model().objects.filter(username="acme").exists()


def test_sign_up_refuses_a_taken_username_whatever_its_case(client, alice):
    response = sign_up(client, "Alice", email="other@example.com")

    assert response.status_code == 200
    assert "already" in response.content.decode()
    assert get_user_model().objects.filter(username__iexact="alice").count() == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("x", "Use between 2 and 30 characters."),
        ("two--dashes", "Use lowercase letters and digits"),
        ("-edge", "Use lowercase letters and digits"),
    ],
)
def test_sign_up_explains_the_namespace_grammar(client, name, message):
    response = sign_up(client, name)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Namespace.objects.filter(name=name).exists()


def test_the_sign_up_page_has_the_site_frame(client):
    page = client.get(SIGNUP_URL).content.decode()

    assert 'role="search"' in page
    assert 'action="/search/"' in page
    assert "hub/site.css" in page
    assert 'name="username"' in page


def test_log_in_with_username_or_email_then_log_out(client, alice):
    response = client.post(LOGIN_URL, {"login": "alice", "password": PASSWORD})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert "Signed in as <strong>alice</strong>" in page

    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert "Signed in as" not in page
    assert 'href="/accounts/signup/"' in page

    response = client.post(LOGIN_URL, {"login": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/settings/").status_code == 200


def test_log_in_ignores_the_case_of_the_username(client, alice):
    response = client.post(LOGIN_URL, {"login": "ALICE", "password": PASSWORD})

    assert response.status_code == 302
    assert client.get("/settings/").status_code == 200


def test_log_in_with_a_wrong_password_fails(client, alice):
    response = client.post(LOGIN_URL, {"login": "alice", "password": "wrong"})

    assert response.status_code == 200
    assert client.get("/settings/").status_code == 302


def test_password_reset_sends_a_mail_with_a_working_link(client, alice, mailoutbox):
    response = client.post("/accounts/password/reset/", {"email": "alice@example.com"})

    assert response.status_code == 302
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["alice@example.com"]
    assert message.subject.startswith("[Hub] ")
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", message.body)
    assert link is not None

    # The link leads to a form that sets a new password.
    response = client.get(link.group(1), follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else link.group(1)
    response = client.post(
        form_url, {"password1": "a brand new passphrase", "password2": "a brand new passphrase"}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a brand new passphrase")


def test_password_change(client_for, alice):
    client = client_for(alice)

    response = client.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "another passphrase 2",
            "password2": "another passphrase 2",
        },
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("another passphrase 2")


def test_mandatory_email_verification(client, settings, mailoutbox):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"

    response = sign_up(client, "erin")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert len(mailoutbox) == 1
    assert "/accounts/confirm-email/" in mailoutbox[0].body
    # Not signed in until the address is confirmed.
    response = client.post(LOGIN_URL, {"login": "erin", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert client.get("/settings/").status_code == 302

    key = re.search(r"/accounts/confirm-email/(\S+)/", mailoutbox[-1].body).group(1)
    client.post(f"/accounts/confirm-email/{key}/")
    assert EmailAddress.objects.get(email="erin@example.com").verified
    response = client.post(LOGIN_URL, {"login": "erin", "password": PASSWORD})
    assert client.get("/settings/").status_code == 200


def test_optional_email_verification_still_sends_a_confirmation(client, mailoutbox):
    sign_up(client, "frank")

    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["frank@example.com"]


def test_pages_for_a_signed_in_user_link_to_profile_settings_and_log_out(client_for, alice):
    page = client_for(alice).get("/").content.decode()

    assert 'href="/u/alice/"' in page
    assert 'href="/settings/"' in page
    assert 'action="/accounts/logout/"' in page
    assert 'href="/accounts/login/' not in page
