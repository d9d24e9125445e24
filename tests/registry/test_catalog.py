"""GET /v2/_catalog."""

import pytest

NAMES_IN_ORDER = ["alpha/one", "alpha/two", "beta/app", "library/busybox", "zeta/a/b"]


@pytest.fixture
def repositories(registry):
    # A repository is listed once it has a manifest (see test_pending_repositories.py).
    for name in ["zeta/a/b", "busybox", "alpha/two", "beta/app", "alpha/one"]:
        registry.push_image(name, "latest")


def names(response):
    assert response.status_code == 200
    return response.json()["repositories"]


def test_catalog_lists_every_repository_in_order(registry, repositories):
    response = registry.get("/v2/_catalog")

    assert names(response) == NAMES_IN_ORDER
    assert "Link" not in response


def test_empty_catalog(registry):
    assert names(registry.get("/v2/_catalog")) == []


def test_n_limits_the_page_and_links_to_the_next(registry, repositories):
    response = registry.get("/v2/_catalog?n=2")

    assert names(response) == NAMES_IN_ORDER[:2]
    assert response["Link"] == '</v2/_catalog?n=2&last=alpha%2Ftwo>; rel="next"'


def test_following_links_walks_every_repository_once(registry, repositories):
    path, seen = "/v2/_catalog?n=2", []
    while path:
        response = registry.get(path)
        seen += names(response)
        link = response.get("Link")
        path = link[1 : link.index(">")] if link else None

    assert seen == NAMES_IN_ORDER


def test_last_starts_after_the_given_name(registry, repositories):
    response = registry.get("/v2/_catalog?n=2&last=beta/app")

    assert names(response) == NAMES_IN_ORDER[3:5]
    assert "Link" not in response


def test_n_zero_is_an_empty_list_without_link(registry, repositories):
    response = registry.get("/v2/_catalog?n=0")

    assert names(response) == []
    assert "Link" not in response
