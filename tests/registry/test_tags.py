"""GET /v2/<name>/tags/list."""

import pytest

from .helpers import error_codes

NAME = "alice/app"
# Byte order: digits, upper case, underscore, lower case.
TAGS_IN_ORDER = ["1.0", "A", "B", "Latest", "_x", "a", "b", "latest"]


@pytest.fixture
def tagged(registry):
    image = registry.push_image(NAME)
    for tag in ["b", "_x", "latest", "A", "1.0", "Latest", "a", "B"]:
        registry.push(NAME, tag, image.payload, image.media_type)


def tags(response):
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == NAME
    return body["tags"]


def test_tags_are_listed_in_byte_order(registry, tagged):
    assert tags(registry.get(f"/v2/{NAME}/tags/list")) == TAGS_IN_ORDER


def test_whole_list_has_no_link(registry, tagged):
    assert "Link" not in registry.get(f"/v2/{NAME}/tags/list")


def test_n_limits_the_page_and_links_to_the_next(registry, tagged):
    response = registry.get(f"/v2/{NAME}/tags/list?n=3")

    assert tags(response) == TAGS_IN_ORDER[:3]
    assert response["Link"] == f'</v2/{NAME}/tags/list?n=3&last=B>; rel="next"'


def test_following_links_walks_every_tag_once(registry, tagged):
    path, seen = f"/v2/{NAME}/tags/list?n=3", []
    while path:
        response = registry.get(path)
        seen += tags(response)
        link = response.get("Link")
        path = link[1 : link.index(">")] if link else None

    assert seen == TAGS_IN_ORDER


def test_last_starts_after_the_given_tag(registry, tagged):
    assert tags(registry.get(f"/v2/{NAME}/tags/list?last=Latest")) == TAGS_IN_ORDER[4:]
    assert tags(registry.get(f"/v2/{NAME}/tags/list?n=2&last=Latest")) == TAGS_IN_ORDER[4:6]


def test_last_need_not_be_a_tag(registry, tagged):
    assert tags(registry.get(f"/v2/{NAME}/tags/list?last=M")) == TAGS_IN_ORDER[4:]


def test_last_page_has_no_link(registry, tagged):
    response = registry.get(f"/v2/{NAME}/tags/list?n=2&last=a")

    assert tags(response) == ["b", "latest"]
    assert "Link" not in response


def test_n_larger_than_the_list(registry, tagged):
    response = registry.get(f"/v2/{NAME}/tags/list?n=100")

    assert tags(response) == TAGS_IN_ORDER
    assert "Link" not in response


def test_n_zero_is_an_empty_list_without_link(registry, tagged):
    response = registry.get(f"/v2/{NAME}/tags/list?n=0")

    assert tags(response) == []
    assert "Link" not in response


def test_repository_without_tags_lists_none(registry):
    registry.push_blob(NAME, b"blob")

    assert tags(registry.get(f"/v2/{NAME}/tags/list")) == []


def test_unknown_repository_is_404_name_unknown(registry):
    response = registry.get("/v2/nobody/here/tags/list")

    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]


def test_tags_of_other_repositories_are_not_listed(registry, tagged):
    registry.push_image("alice/other", "other")

    assert "other" not in tags(registry.get(f"/v2/{NAME}/tags/list"))
