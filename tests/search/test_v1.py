import pytest
from django.test import Client

from tests.helpers import client_as

from .conftest import create, namespace, set_counts


@pytest.fixture
def repositories(alice, library):
    official = create(library, "nginx", "Official build of Nginx.", is_official=True)
    set_counts(official, star_count=7)
    create(namespace("alice"), "nginx-proxy", "Automated nginx reverse proxy")
    create(namespace("alice"), "nginx-secret", "Private nginx setup", visibility="private")


def test_ping():
    response = Client().get("/v1/_ping")
    assert response.status_code == 200
    assert response["X-Docker-Registry-Standalone"] == "true"


def test_search_answers_in_dockers_format(repositories):
    response = Client().get("/v1/search", {"q": "nginx", "n": "25"})
    assert response.status_code == 200
    assert response.json() == {
        "num_pages": 1,
        "num_results": 2,
        "page": 1,
        "page_size": 25,
        "query": "nginx",
        "results": [
            {
                "name": "nginx",  # the library namespace is shown bare, as on Docker Hub
                "description": "Official build of Nginx.",
                "star_count": 7,
                "is_official": True,
                "is_automated": False,
            },
            {
                "name": "alice/nginx-proxy",
                "description": "Automated nginx reverse proxy",
                "star_count": 0,
                "is_official": False,
                "is_automated": False,
            },
        ],
    }


def test_private_repositories_follow_basic_credentials(repositories, bob):
    def found(client):
        response = client.get("/v1/search", {"q": "nginx"})
        assert response.status_code == 200
        return [result["name"] for result in response.json()["results"]]

    assert "alice/nginx-secret" not in found(Client())
    assert "alice/nginx-secret" not in found(client_as("bob", "bob-pw"))
    assert "alice/nginx-secret" in found(client_as("alice", "alice-pw"))


def test_private_repositories_follow_a_bearer_token(repositories):
    token = client_as("alice", "alice-pw").get(
        "/token", {"service": "hub-registry", "scope": "registry:catalog:search"}
    )
    assert token.status_code == 200
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {token.json()['token']}")
    names = [r["name"] for r in bearer.get("/v1/search", {"q": "nginx"}).json()["results"]]
    assert "alice/nginx-secret" in names


def test_wrong_credentials_are_refused(repositories):
    response = client_as("alice", "wrong").get("/v1/search", {"q": "nginx"})
    assert response.status_code == 401


def test_n_defaults_to_25_and_pages_follow_it(alice):
    for number in range(30):
        create(namespace("alice"), f"svc-{number}", "service")
    first = Client().get("/v1/search", {"q": "service"}).json()
    assert (first["page_size"], len(first["results"]), first["num_pages"]) == (25, 25, 2)
    second = Client().get("/v1/search", {"q": "service", "n": "25", "page": "2"}).json()
    assert (second["page"], len(second["results"])) == (2, 5)
    assert not {r["name"] for r in first["results"]} & {r["name"] for r in second["results"]}


@pytest.mark.parametrize("n", ["0", "101", "-1", "ten"])
def test_n_outside_1_to_100_is_refused(n):
    response = Client().get("/v1/search", {"q": "nginx", "n": n})
    assert response.status_code == 400
    assert "n must be" in response.json()["error"]


@pytest.mark.parametrize("n", ["1", "100"])
def test_n_at_the_bounds_is_taken(repositories, n):
    response = Client().get("/v1/search", {"q": "nginx", "n": n})
    assert response.status_code == 200
    assert response.json()["page_size"] == int(n)
    assert len(response.json()["results"]) == min(int(n), 2)


def test_a_bad_page_is_refused():
    assert Client().get("/v1/search", {"q": "nginx", "page": "0"}).status_code == 400


def test_a_token_whose_user_was_deleted_is_refused(repositories, django_user_model):
    token = client_as("alice", "alice-pw").get(
        "/token", {"service": "hub-registry", "scope": "registry:catalog:search"}
    )
    django_user_model.objects.filter(username="alice").delete()
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {token.json()['token']}")
    assert bearer.get("/v1/search", {"q": "nginx"}).status_code == 401
