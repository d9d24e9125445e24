"""Failed logins (django-axes): after AXES_FAILURE_LIMIT failures for a user
from one address, or HUB_LOGIN_ADDRESS_FAILURE_LIMIT failures from one address
for anyone, the token endpoint and Basic credentials at /v2/ answer 429
TOOMANYREQUESTS there, even for the right password."""

import pytest
from django.test import Client

from accounts import services
from repositories.models import Repository
from tests.helpers import basic_auth

from .conftest import PASSWORD, SERVICE, bearer, error_codes

LIMIT = 3


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.HUB_LOGIN_LOCKOUT_MINUTES = 15


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def image(alice, seed):
    return seed("alice/private", Repository.Visibility.PRIVATE)


def fail_at_token_endpoint(caller, times, username="alice"):
    return [
        caller("anonymous", username, "wrong").token_response().status_code for _ in range(times)
    ]


def assert_too_many_requests(response):
    assert response.status_code == 429, response.content
    assert response["Retry-After"] == str(15 * 60)
    if response.content:
        assert error_codes(response) == ["TOOMANYREQUESTS"]


def test_failures_below_the_limit_are_401(caller, alice):
    assert fail_at_token_endpoint(caller, LIMIT - 1) == [401] * (LIMIT - 1)
    assert caller("anonymous", "alice").token_response().status_code == 200


def test_after_the_limit_the_token_endpoint_answers_429(caller, alice):
    fail_at_token_endpoint(caller, LIMIT)

    assert_too_many_requests(caller("anonymous", "alice", "wrong").token_response())


def test_a_correct_password_while_locked_out_is_refused(caller, image):
    fail_at_token_endpoint(caller, LIMIT)

    assert_too_many_requests(caller("anonymous", "alice").token_response())
    assert_too_many_requests(caller("basic", "alice").get("/v2/"))
    assert_too_many_requests(caller("basic", "alice").pull("alice/private"))
    assert_too_many_requests(caller("basic", "alice").head("/v2/alice/private/manifests/latest"))


def test_the_oauth2_password_grant_is_locked_out_too(caller, alice):
    fail_at_token_endpoint(caller, LIMIT)

    response = caller().client.post(
        "/token",
        {"grant_type": "password", "username": "alice", "password": PASSWORD, "client_id": "x"},
    )

    assert_too_many_requests(response)


def test_failed_oauth2_password_grants_count(caller, alice):
    form = {"grant_type": "password", "username": "alice", "password": "wrong", "client_id": "x"}
    for _ in range(LIMIT):
        caller().client.post("/token", form)

    assert_too_many_requests(caller("anonymous", "alice").token_response())


def test_failures_with_basic_at_v2_count_and_lock_out_both(caller, alice):
    for _ in range(LIMIT):
        caller("basic", "alice", "wrong").get("/v2/")

    assert_too_many_requests(caller("basic", "alice").get("/v2/"))
    assert_too_many_requests(caller("anonymous", "alice").token_response())


def test_remembered_credentials_do_not_bypass_a_lockout(caller, alice):
    client = caller("basic", "alice")
    assert client.get("/v2/").status_code == 200  # remembered from now on

    fail_at_token_endpoint(caller, LIMIT)

    assert_too_many_requests(client.get("/v2/"))


def test_failed_access_tokens_count(caller, alice):
    for _ in range(LIMIT):
        caller("anonymous", "alice", "hub_pat_not-a-real-token").token_response()

    assert_too_many_requests(caller("anonymous", "alice").token_response())


def test_a_valid_access_token_while_locked_out_is_refused(caller, alice):
    _, secret = services.access_token_create(user=alice, name="ci", scope="read")
    fail_at_token_endpoint(caller, LIMIT)

    assert_too_many_requests(caller("anonymous", "alice", secret).token_response())
    assert_too_many_requests(caller("basic", "alice", secret).get("/v2/"))


def test_anonymous_pulls_go_on_during_a_lockout(caller, alice, seed):
    seed("alice/public")
    fail_at_token_endpoint(caller, LIMIT)

    assert caller().pull("alice/public").status_code == 200
    assert caller("anonymous-bearer").pull("alice/public").status_code == 200


def test_bearer_tokens_issued_before_a_lockout_still_work(caller, image):
    token = caller("anonymous", "alice").token("repository:alice/private:pull")
    fail_at_token_endpoint(caller, LIMIT)

    response = caller().pull("alice/private", headers={"Authorization": bearer(token)})

    assert response.status_code == 200


def test_a_success_below_the_limit_resets_the_count(caller, alice):
    fail_at_token_endpoint(caller, LIMIT - 1)
    assert caller("anonymous", "alice").token_response().status_code == 200

    assert fail_at_token_endpoint(caller, LIMIT - 1) == [401] * (LIMIT - 1)
    assert caller("anonymous", "alice").token_response().status_code == 200


# One person's failures, and many people behind one address ---------------


def token_from(address, username, password=PASSWORD):
    """The status of a token request as `docker login` makes it, from this address."""
    return (
        Client()
        .get(
            "/token",
            {"service": SERVICE},
            headers={"Authorization": basic_auth(username, password)},
            REMOTE_ADDR=address,
        )
        .status_code
    )


def test_one_persons_failures_lock_only_that_person_at_that_address(alice, bob, settings):
    settings.AXES_FAILURE_LIMIT = 10
    settings.HUB_LOGIN_ADDRESS_FAILURE_LIMIT = 100

    statuses = [token_from("10.0.0.1", "alice", "wrong") for _ in range(10)]

    assert statuses == [401] * 9 + [429]
    assert token_from("10.0.0.1", "alice") == 429
    # A colleague in the same office, and alice from home, get in; neither
    # success clears alice's failures at the office.
    assert token_from("10.0.0.1", "bob") == 200
    assert token_from("10.0.0.2", "alice") == 200
    assert token_from("10.0.0.1", "alice") == 429


def test_the_case_of_a_username_earns_no_extra_guesses(alice, bob):
    for username in ("alice", "Alice", "ALICE"):  # LIMIT failures
        token_from("10.0.0.1", username, "wrong")

    assert token_from("10.0.0.1", "alice") == 429
    assert token_from("10.0.0.1", "bob") == 200


def test_failures_across_many_usernames_lock_the_address(make_user, settings):
    settings.HUB_LOGIN_ADDRESS_FAILURE_LIMIT = 6
    make_user("carol")

    # Five failures over three usernames: none reaches the limit of 3 for one
    # user at the address, and the address is below its own limit.
    for username in ("alice", "alice", "bob", "bob", "dave"):
        assert token_from("10.0.0.1", username, "wrong") == 401
    assert token_from("10.0.0.1", "carol") == 200

    # The sixth, for yet another username, locks the address: everyone there
    # is refused, and nobody elsewhere is.
    assert token_from("10.0.0.1", "erin", "wrong") == 429
    assert token_from("10.0.0.1", "carol") == 429
    assert token_from("10.0.0.2", "carol") == 200
