"""/token while something it needs is down: `docker login` gets JSON that
says so, with Retry-After, never Django's HTML error page."""

import logging

import pytest

from accounts import token_service
from tests.registry.test_outages import unreachable_database

from .conftest import PASSWORD


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def database_gone(alice):
    with unreachable_database() as gone:
        yield gone


DATABASE_DOWN = {
    "errors": [
        {
            "code": "UNAVAILABLE",
            "message": "the database is unavailable; try again shortly",
            "detail": {"unavailable": "database"},
        }
    ]
}


def test_get_with_credentials_while_the_database_is_down_is_503_json(
    caller, settings, database_gone
):
    settings.HUB_OUTAGE_RETRY_AFTER = 30

    response = caller("basic", "alice").token_response("repository:alice/app:pull")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "30"
    assert response.json() == DATABASE_DOWN


def test_password_grant_while_the_database_is_down_is_503_json(caller, database_gone):
    response = caller().client.post(
        "/token",
        {
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "service": "hub-registry",
            "client_id": "docker",
        },
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json() == DATABASE_DOWN


def test_an_unforeseen_failure_is_500_json_with_its_traceback_logged_once(
    caller, alice, monkeypatch, caplog
):
    def fail(*args, **kwargs):
        raise RuntimeError("internals nobody outside should read")

    monkeypatch.setattr(token_service, "grant", fail)

    with caplog.at_level(logging.INFO):
        response = caller("basic", "alice").token_response("repository:alice/app:pull")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"errors": [{"code": "UNKNOWN", "message": "internal server error"}]}
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert isinstance(record.exc_info[1], RuntimeError)


def test_refusals_keep_their_own_answers(caller, alice):
    response = caller("basic", "alice", "wrong").token_response()

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
