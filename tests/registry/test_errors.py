"""The API root, the version header, and the shape of errors."""

import pytest

from .helpers import error_codes

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_api_root_answers_200_with_the_version_header(registry, method):
    response = registry.request(method, "/v2/")

    assert response.status_code == 200
    assert response[API_VERSION[0]] == API_VERSION[1]


def test_api_root_body_is_an_empty_json_object(registry):
    assert registry.get("/v2/").json() == {}


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/v2/nothing/here/manifests/latest", 404),
        ("GET", "/v2/Bad/tags/list", 400),
        ("GET", "/v2/library/x/blobs/sha256:nope", 400),
        ("PATCH", "/v2/", 405),
        ("GET", "/v2/not/an/endpoint", 404),
    ],
)
def test_errors_carry_the_version_header_and_a_json_body(registry, method, path, status):
    response = registry.request(method, path)

    assert response.status_code == status
    assert response[API_VERSION[0]] == API_VERSION[1]
    assert response["Content-Type"] == "application/json"
    [error] = response.json()["errors"]
    assert set(error) >= {"code", "message"}


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("POST", "/v2/library/x/manifests/latest", "GET, HEAD, PUT, DELETE"),
        ("PUT", "/v2/_catalog", "GET"),
        ("POST", "/v2/library/x/tags/list", "GET"),
        ("PUT", "/v2/library/x/blobs/uploads/", "POST"),
        ("POST", "/v2/library/x/referrers/sha256:" + "a" * 64, "GET"),
        ("DELETE", "/v2/", "GET, HEAD"),
    ],
)
def test_unsupported_method_is_405_unsupported_with_allow(registry, method, path, allowed):
    response = registry.request(method, path)

    assert response.status_code == 405
    assert error_codes(response) == ["UNSUPPORTED"]
    assert response["Allow"] == allowed


def test_unknown_endpoint_is_404(registry):
    response = registry.get("/v2/library/x/unknown/thing")

    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]


@pytest.mark.parametrize("n", ["abc", "-1"])
def test_bad_page_size_is_400(registry, n):
    registry.push_image("library/x", "latest")

    assert registry.get(f"/v2/library/x/tags/list?n={n}").status_code == 400
    assert registry.get(f"/v2/_catalog?n={n}").status_code == 400
