"""/settings/: the account's own settings."""

import pytest

from accounts.models import Namespace
from repositories import services as repository_services

pytestmark = pytest.mark.django_db


def test_settings_need_an_account(client):
    response = client.get("/settings/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_settings_link_to_email_password_linked_accounts_and_tokens(client_for, alice):
    page = client_for(alice).get("/settings/").content.decode()

    for href in (
        "/accounts/email/",
        "/accounts/password/change/",
        "/accounts/3rdparty/",
        "/settings/tokens/",
        "/settings/organizations/",
    ):
        assert f'href="{href}"' in page, href


def test_default_visibility_of_new_repositories(client_for, alice):
    response = client_for(alice).post("/settings/", {"default_visibility": "private"})

    assert response.status_code == 302
    namespace = Namespace.objects.get(name="alice")
    assert namespace.default_visibility == "private"
    # What a push creates from now on.
    repository = repository_services.repository_get_or_create(name="alice/pushed")
    assert repository.visibility == "private"


def test_an_unknown_visibility_is_refused(client_for, alice):
    response = client_for(alice).post("/settings/", {"default_visibility": "secret"})

    assert response.status_code == 200
    assert Namespace.objects.get(name="alice").default_visibility == "public"


@pytest.mark.parametrize(
    "path", ["/accounts/email/", "/accounts/password/change/", "/accounts/3rdparty/"]
)
def test_allauths_pages_show_the_settings_menu(client_for, alice, path):
    page = client_for(alice).get(path).content.decode()

    assert 'aria-label="Settings"' in page
    assert 'aria-current="page"' in page
    assert "hub/site.css" in page
