"""django-axes on the web log-in: after HUB_LOGIN_FAILURE_LIMIT failures a
person sees why they cannot log in, and for how long; the lockout is per user
and address, so others at that address go on; staff lift lockouts in the
admin."""

import pytest
from django.test import Client

from accounts.admin import HubAccessAttemptAdmin
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


ATTEMPTS_URL = "/admin/axes/accessattempt/"


def token_from(address, username, password=PASSWORD):
    return Client().get(
        "/token",
        {"service": "hub-registry"},
        headers={"Authorization": basic_auth(username, password)},
        REMOTE_ADDR=address,
    )


@pytest.fixture
def staff_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def test_one_persons_failures_on_the_web_leave_others_at_the_address_alone(client, alice, bob):
    for _ in range(3):
        client.post(LOGIN_URL, {"login": "alice", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")

    colleague = Client()
    response = colleague.post(
        LOGIN_URL, {"login": "bob", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1"
    )

    assert response.status_code == 302
    assert colleague.get("/settings/").status_code == 200
    locked = client.post(
        LOGIN_URL, {"login": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1"
    )
    assert locked.status_code == 429


def attempts_listed(staff_client, **query):
    response = staff_client.get(ATTEMPTS_URL, query)
    assert response.status_code == 200
    model_admin = response.context["cl"].model_admin
    assert isinstance(model_admin, HubAccessAttemptAdmin)
    return {
        (row.username, row.ip_address): (
            row.user_failures,
            row.address_failures,
            model_admin.locked_out(row),
        )
        for row in response.context["cl"].result_list
    }


def lift(staff_client, listed_username):
    response = staff_client.get(ATTEMPTS_URL, {"username": listed_username})
    pks = [row.pk for row in response.context["cl"].result_list]
    return staff_client.post(
        ATTEMPTS_URL, {"action": "lift_lockout", "_selected_action": pks}, follow=True
    )


def test_staff_see_a_lockout_in_the_admin_and_lift_it(staff_client, alice, bob):
    for _ in range(3):
        token_from("10.0.0.1", "alice", "wrong")
    token_from("10.0.0.1", "bob", "wrong")
    assert token_from("10.0.0.1", "alice").status_code == 429

    assert attempts_listed(staff_client) == {
        ("alice", "10.0.0.1"): (3, 4, True),
        ("bob", "10.0.0.1"): (1, 4, False),
    }
    assert list(attempts_listed(staff_client, locked_out="yes")) == [("alice", "10.0.0.1")]
    page = staff_client.get(ATTEMPTS_URL).content.decode()
    for text in ("Failures, user at address", "Failures at address", "Locked out"):
        assert text in page
    assert '<option value="lift_lockout">Lift the lockout</option>' in page

    response = lift(staff_client, "alice")

    assert "Lifted the lockout" in response.content.decode()
    assert attempts_listed(staff_client) == {("bob", "10.0.0.1"): (1, 1, False)}
    assert token_from("10.0.0.1", "alice").status_code == 200


def test_lifting_an_address_lockout_clears_the_address(staff_client, alice, bob, settings):
    settings.HUB_LOGIN_ADDRESS_FAILURE_LIMIT = 4
    for username in ("alice", "alice", "carol", "dave"):
        token_from("10.0.0.1", username, "wrong")
    token_from("10.0.0.2", "erin", "wrong")
    assert token_from("10.0.0.1", "bob").status_code == 429

    listed = attempts_listed(staff_client, locked_out="yes")
    assert listed[("alice", "10.0.0.1")] == (2, 4, True)  # locked by the address
    assert ("erin", "10.0.0.2") not in listed

    lift(staff_client, "alice")

    assert list(attempts_listed(staff_client)) == [("erin", "10.0.0.2")]
    assert token_from("10.0.0.1", "bob").status_code == 200
