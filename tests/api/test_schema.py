"""The OpenAPI document and the docs page that renders it, offline."""

import json
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import yaml
from django.contrib.staticfiles import finders
from drf_spectacular.validation import validate_schema

REPOSITORY_PATHS = [
    "/api/v1/repositories/",
    "/api/v1/repositories/{namespace}/{name}/",
    "/api/v1/repositories/{namespace}/{name}/tags/",
    "/api/v1/repositories/{namespace}/{name}/tags/{tag}/",
    "/api/v1/repositories/{namespace}/{name}/star/",
    "/api/v1/users/{username}/",
    "/api/v1/users/{username}/repositories/",
    "/api/v1/users/{username}/starred/",
    "/api/v1/orgs/{name}/",
    "/api/v1/orgs/{name}/members/",
    "/api/v1/orgs/{name}/teams/",
]


def test_schema_is_a_valid_openapi_document(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    document = json.loads(response.content)
    validate_schema(document)  # raises on an invalid document
    assert document["openapi"].startswith("3.")
    assert set(REPOSITORY_PATHS) <= set(document["paths"])
    repositories = document["paths"]["/api/v1/repositories/"]
    assert set(repositories) == {"get", "post"}
    assert {p["name"] for p in repositories["get"]["parameters"]} >= {
        "q",
        "namespace",
        "official",
        "automated",
        "sort",
        "page",
        "page_size",
    }
    schemes = document["components"]["securitySchemes"]
    assert (schemes["accessToken"]["type"], schemes["accessToken"]["scheme"]) == ("http", "bearer")
    assert (schemes["basicAuth"]["type"], schemes["basicAuth"]["scheme"]) == ("http", "basic")
    assert schemes["cookieAuth"]["in"] == "cookie"
    sort = next(p for p in repositories["get"]["parameters"] if p["name"] == "sort")
    assert sort["schema"]["enum"] == ["best", "stars", "pulls", "updated"]


def test_schema_is_served_as_yaml_by_default(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert "/api/v1/repositories/{namespace}/{name}/tags/" in document["paths"]


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_docs_page_needs_no_other_host(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    parser = _Assets()
    parser.feed(page)
    assert any(url.endswith("swagger-ui-bundle.js") for url in parser.urls)
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
        # Each asset is one this installation serves from its static files.
        static_path = parts.path.removeprefix("/static/")
        assert finders.find(static_path), url
    # Nor does the page's script reach out (Swagger UI's online validator badge).
    assert not re.search(r"https?://", page), re.findall(r"https?://\S+", page)
    assert '"validatorUrl": null' in page
