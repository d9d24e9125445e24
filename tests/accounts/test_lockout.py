"""django-axes on the web log-in: after HUB_LOGIN_FAILURE_LIMIT failures a
person sees why they cannot log in, and for how long."""

import pytest

from tests.helpers import PASSWORD, basic_auth

pytestmark = pytest.mark.django_db

LOGIN_URL = "/accounts/login/"
MESSAGE = "Too many failed log-in attempts; try again in 15 minutes."


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = 0.25  # hours


def test_the_web_log_in_locks_after_the_limit_and_says_so(client, alice):
    for _ in range(2):
        response = client.post(LOGIN_URL, {"login": "alice", "password": "wrong"})
        assert response.status_code == 200
        assert MESSAGE not in response.content.decode()

    response = client.post(LOGIN_URL, {"login": "alice", "password": "wrong"})

    assert response.status_code == 429
    page = response.content.decode()
    assert MESSAGE in page
    assert "hub/site.css" in page  # the site's page, not axes' bare text
    assert response["Retry-After"] == "900"

    # Even the right password is refused while the lockout lasts.
    response = client.post(LOGIN_URL, {"login": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert MESSAGE in response.content.decode()
    assert client.get("/settings/").status_code == 302


def test_the_minutes_follow_the_cool_off(client, alice, settings):
    settings.AXES_COOLOFF_TIME = 1 / 60

    for _ in range(3):
        response = client.post(LOGIN_URL, {"login": "alice", "password": "wrong"})

    assert "Too many failed log-in attempts; try again in 1 minute." in response.content.decode()


def test_failures_below_the_limit_do_not_lock(client, alice):
    for _ in range(2):
        client.post(LOGIN_URL, {"login": "alice", "password": "wrong"})

    response = client.post(LOGIN_URL, {"login": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert client.get("/settings/").status_code == 200


def test_the_registry_token_endpoint_keeps_its_own_answers(client, alice):
    header = {"HTTP_AUTHORIZATION": basic_auth("alice", "wrong")}
    responses = [client.get("/token", **header) for _ in range(4)]

    for response in responses:
        assert response["Content-Type"] == "application/json"
        assert MESSAGE not in response.content.decode()
    assert responses[0].status_code == 401
    assert responses[-1].status_code == 429
