"""Pagination, sorting and filters on the repository list."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Namespace
from repositories import services
from repositories.models import Repository
from repositories.search import search_index_update

from .helpers import session_client


def names(response):
    assert response.status_code == 200, response.content
    return [repo["full_name"] for repo in response.json()["results"]]


@pytest.fixture
def catalog(alice, bob):
    """Five repositories with distinct counts and update times."""
    now = timezone.now()
    rows = [
        # namespace, name, stars, pulls, age in days, official, automated
        ("alice", "redis", 5, 100, 3, True, False),
        ("alice", "nginx", 50, 10, 1, False, False),
        ("bob", "nginx-proxy", 1, 1000, 2, False, True),
        ("bob", "tools", 20, 0, 0, False, True),
        ("bob", "notes", 0, 5, 4, False, False),
    ]
    for namespace, name, stars, pulls, age, official, automated in rows:
        repository = services.repository_create(
            namespace=Namespace.objects.get(name=namespace),
            name=name,
            visibility="public",
            description=f"{name} image",
        )
        # Counters and flags are the services' business elsewhere; set them as data here.
        Repository.objects.filter(pk=repository.pk).update(
            star_count=stars,
            pull_count=pulls,
            updated_at=now - timedelta(days=age),
            is_official=official,
            is_automated=automated,
        )
        # As a pull flush or the services would, bring the search index up to date.
        search_index_update(repository=Repository.objects.get(pk=repository.pk))


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("stars", ["alice/nginx", "bob/tools", "alice/redis", "bob/nginx-proxy", "bob/notes"]),
        ("pulls", ["bob/nginx-proxy", "alice/redis", "alice/nginx", "bob/notes", "bob/tools"]),
        ("updated", ["bob/tools", "alice/nginx", "bob/nginx-proxy", "alice/redis", "bob/notes"]),
        # Without a query: official first, then by stars, then by pulls.
        ("best", ["alice/redis", "alice/nginx", "bob/tools", "bob/nginx-proxy", "bob/notes"]),
    ],
)
def test_sort(client, catalog, sort, expected):
    assert names(client.get("/api/v1/repositories/", {"sort": sort})) == expected


def test_best_match_is_the_default(client, catalog):
    assert names(client.get("/api/v1/repositories/")) == names(
        client.get("/api/v1/repositories/", {"sort": "best"})
    )


def test_unknown_sort_is_400(client, catalog):
    response = client.get("/api/v1/repositories/", {"sort": "random"})
    assert response.status_code == 400
    assert "sort" in response.json()


def test_filter_by_namespace(client, catalog):
    response = client.get("/api/v1/repositories/", {"namespace": "alice", "sort": "stars"})
    assert names(response) == ["alice/nginx", "alice/redis"]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"official": "true"}, ["alice/redis"]),
        ({"automated": "true"}, ["bob/nginx-proxy", "bob/tools"]),
        ({"automated": "false"}, ["alice/nginx", "alice/redis", "bob/notes"]),
        ({"official": "false", "automated": "false"}, ["alice/nginx", "bob/notes"]),
    ],
)
def test_filter_by_flags(client, catalog, params, expected):
    assert sorted(names(client.get("/api/v1/repositories/", params))) == expected


def test_bad_flag_is_400(client, catalog):
    assert client.get("/api/v1/repositories/", {"official": "maybe"}).status_code == 400


def test_search(client, catalog):
    response = client.get("/api/v1/repositories/", {"q": "nginx", "sort": "pulls"})
    assert names(response) == ["bob/nginx-proxy", "alice/nginx"]
    body = response.json()
    assert (body["count"], body["count_capped"], body["suggestion"]) == (2, False, None)


def test_search_corrects_a_typo(client, catalog):
    body = client.get("/api/v1/repositories/", {"q": "ngnix"}).json()
    assert body["suggestion"] == "nginx"
    assert [repo["full_name"] for repo in body["results"]][0] == "alice/nginx"


def test_search_pages(client, catalog):
    first = client.get("/api/v1/repositories/", {"q": "image", "sort": "stars", "page_size": 2})
    assert names(first) == ["alice/nginx", "bob/tools"]
    assert first.json()["count"] == 5
    assert first.json()["previous"] is None
    second = client.get(first.json()["next"])
    assert names(second) == ["alice/redis", "bob/nginx-proxy"]
    third = client.get(second.json()["next"])
    assert names(third) == ["bob/notes"]
    assert third.json()["next"] is None
    assert client.get(third.json()["previous"]).json() == second.json()
    assert client.get("/api/v1/repositories/", {"q": "image", "page": 4}).status_code == 404
    assert client.get("/api/v1/repositories/", {"q": "image", "page": "x"}).status_code == 404


def test_search_within_a_namespace(client, catalog):
    response = client.get("/api/v1/repositories/", {"q": "nginx", "namespace": "bob"})
    assert names(response) == ["bob/nginx-proxy"]
    response = client.get("/api/v1/users/alice/repositories/", {"q": "nginx"})
    assert names(response) == ["alice/nginx"]


def test_search_puts_an_exact_name_first(client, catalog):
    assert names(client.get("/api/v1/repositories/", {"q": "nginx"}))[0] == "alice/nginx"


def test_search_finds_only_visible_repositories(client, alice, catalog):
    services.repository_create(
        namespace=Namespace.objects.get(name="alice"), name="nginx-private", visibility="private"
    )
    assert "alice/nginx-private" not in names(client.get("/api/v1/repositories/", {"q": "nginx"}))
    owner = session_client(alice)
    assert "alice/nginx-private" in names(owner.get("/api/v1/repositories/", {"q": "nginx"}))


def test_search_with_filters(client, catalog):
    response = client.get("/api/v1/repositories/", {"q": "nginx", "automated": "true"})
    assert names(response) == ["bob/nginx-proxy"]
    response = client.get("/api/v1/repositories/", {"q": "image", "official": "true"})
    assert names(response) == ["alice/redis"]


# Pagination ---------------------------------------------------------------


def test_pages(client, catalog):
    first = client.get("/api/v1/repositories/", {"sort": "stars", "page_size": 2}).json()
    assert first["count"] == 5
    assert [r["full_name"] for r in first["results"]] == ["alice/nginx", "bob/tools"]
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert [r["full_name"] for r in second["results"]] == ["alice/redis", "bob/nginx-proxy"]
    third = client.get(second["next"]).json()
    assert [r["full_name"] for r in third["results"]] == ["bob/notes"]
    assert third["next"] is None
    assert third["previous"] is not None


def test_page_size_is_capped(client, catalog, settings):
    settings.HUB_API_PAGE_SIZE_MAX = 3
    body = client.get("/api/v1/repositories/", {"page_size": 1000}).json()
    assert len(body["results"]) == 3
    assert body["count"] == 5


def test_default_page_size(client, alice, settings):
    namespace = Namespace.objects.get(name="alice")
    for number in range(30):
        services.repository_create(namespace=namespace, name=f"repo{number}")
    body = client.get("/api/v1/repositories/").json()
    assert body["count"] == 30
    assert len(body["results"]) == settings.REST_FRAMEWORK["PAGE_SIZE"] == 25


def test_page_past_the_end_is_404(client, catalog):
    assert client.get("/api/v1/repositories/", {"page": 9}).status_code == 404
