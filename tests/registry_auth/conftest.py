"""What the registry authentication tests share: users, a client that
speaks to /v2/ as Docker clients do (anonymously, with Basic credentials, or
with bearer tokens it fetches from /token), and JWT helpers."""

import re
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt
import pytest
from django.test import Client

from accounts.models import Namespace
from repositories.models import Repository
from tests.helpers import CommittingClient, basic_auth
from tests.registry.helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    image_config,
    image_manifest,
    sha256,
)

PASSWORD = "correct horse battery"
SERVICE = "hub-registry"
LAYER = b"a layer"

_REPOSITORY_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)/")


@pytest.fixture(autouse=True)
def _isolated_registry(db, isolated_storage):
    pass


# Tokens ------------------------------------------------------------------


def bearer(token):
    return f"Bearer {token}"


def claims_of(token):
    """A token's claims, read without checking its signature."""
    return jwt.decode(token, options={"verify_signature": False})


def access_of(token):
    """The token's ``access`` claim as {(type, name): [actions]}."""
    return {(e["type"], e["name"]): e["actions"] for e in claims_of(token)["access"]}


def error_codes(response):
    return [error["code"] for error in response.json()["errors"]]


def challenge(name=None, actions="pull", error=None):
    """The WWW-Authenticate value the test client's host gets."""
    value = f'Bearer realm="http://testserver/token",service="{SERVICE}"'
    if name is not None:
        value += f',scope="repository:{name}:{actions}"'
    if error:
        value += f',error="{error}"'
    return value


def scope_for(method, path):
    """The scope a Docker client asks for before this request."""
    if path.startswith("/v2/_catalog"):
        return "registry:catalog:*"
    match = _REPOSITORY_PATH.match(path)
    if match is None:
        return None
    if method in ("GET", "HEAD"):
        actions = "pull"
    elif method == "DELETE":
        actions = "delete"
    else:
        actions = "pull,push"
    return f"repository:{match['name']}:{actions}"


# A registry client --------------------------------------------------------


@dataclass(frozen=True)
class Pushed:
    name: str
    digest: str
    payload: bytes
    config_digest: str
    layer_digest: str


class Caller(CommittingClient):
    """One registry client. ``mode`` is how it proves itself:

    - "anonymous": no Authorization header;
    - "anonymous-bearer": a token fetched without credentials;
    - "basic": Basic credentials sent straight to /v2/;
    - "bearer": a token fetched with the Basic credentials, for the scope a
      Docker client asks for before each request (as `docker pull/push` do);
    - "fixed": one Authorization header for every request (see ``using``).
    """

    def __init__(self, capture_on_commit, mode="anonymous", username=None, secret=None):
        super().__init__(Client(), capture_on_commit)
        self.mode = mode
        self.username = username
        self.secret = secret

    @property
    def basic(self):
        return basic_auth(self.username, self.secret) if self.username else None

    def token_response(self, *scopes, **params):
        query = [("service", SERVICE), *(("scope", s) for s in scopes), *params.items()]
        headers = {"Authorization": self.basic} if self.basic else {}
        return self.client.get(f"/token?{urlencode(query)}", headers=headers)

    def token(self, *scopes, **params):
        response = self.token_response(*scopes, **params)
        assert response.status_code == 200, response.content
        return response.json()["token"]

    def using(self, authorization):
        """A client that sends this Authorization header (a session token)."""
        fixed = Caller(self._capture_on_commit, "fixed", self.username, self.secret)
        fixed.fixed_authorization = authorization
        return fixed

    def authorization(self, method, path):
        if self.mode == "fixed":
            return self.fixed_authorization
        if self.mode == "basic":
            return self.basic
        if self.mode in ("bearer", "anonymous-bearer"):
            scope = scope_for(method, path)
            return bearer(self.token(*([scope] if scope else [])))
        return None

    def request(self, method, path, data=b"", **kw):
        headers = dict(kw.pop("headers", {}))
        authorization = self.authorization(method, path)
        if authorization:
            headers.setdefault("Authorization", authorization)
        return super().request(method, path, data, headers=headers, **kw)

    # Pushing --------------------------------------------------------------

    def push_blob(self, name, data):
        return self.post(f"/v2/{name}/blobs/uploads/?digest={sha256(data)}", data)

    def try_push(self, name, tag="latest", layer=LAYER):
        """Push a one-layer image as a client does; the first refusal, or the
        manifest PUT's response."""
        config = image_config()
        for blob in (config, layer):
            response = self.push_blob(name, blob)
            if response.status_code != 201:
                return response
        return self.put_manifest(name, tag, _manifest(config, layer))

    def push_image(self, name, tag="latest", layer=LAYER):
        """Push a one-layer image, which must be accepted."""
        response = self.try_push(name, tag, layer)
        assert response.status_code == 201, (response.status_code, response.content)
        config = image_config()
        payload = _manifest(config, layer)
        return Pushed(name, sha256(payload), payload, sha256(config), sha256(layer))

    def put_manifest(self, name, reference, payload):
        return self.put(f"/v2/{name}/manifests/{reference}", payload, content_type=OCI_MANIFEST)

    def pull(self, name, reference="latest", headers=None):
        headers = {"Accept": OCI_MANIFEST, **(headers or {})}
        return self.get(f"/v2/{name}/manifests/{reference}", headers=headers)


def _manifest(config, layer):
    return image_manifest(
        descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)], media_type=OCI_MANIFEST
    )


@pytest.fixture
def caller(django_capture_on_commit_callbacks):
    """``caller(mode, username, secret)``: a new registry client."""

    def make(mode="anonymous", username=None, secret=PASSWORD):
        return Caller(django_capture_on_commit_callbacks, mode, username, secret)

    return make


@pytest.fixture
def make_user(django_user_model):
    def make(username, *, password=PASSWORD, **fields):
        return django_user_model.objects.create_user(
            username, f"{username}@example.com", password, **fields
        )

    return make


@pytest.fixture
def root(django_user_model):
    """A staff user, who may push anywhere."""
    return django_user_model.objects.create_user(
        "root", "root@example.com", PASSWORD, is_staff=True
    )


@pytest.fixture
def as_root(caller, root):
    return caller("basic", "root")


@pytest.fixture
def seed(as_root):
    """``seed(name, visibility)``: a repository holding one image, pushed by staff.
    The row is made first, so the visibility holds from the first request."""

    def make(name, visibility=Repository.Visibility.PUBLIC, tag="latest", layer=None):
        namespace_name, repo_name = name.split("/", 1)
        namespace = Namespace.objects.get(name=namespace_name)
        Repository.objects.get_or_create(
            namespace=namespace, name=repo_name, defaults={"visibility": visibility}
        )
        # Each repository's own layer, so no other repository holds it.
        return as_root.push_image(name, tag, layer or f"the layer of {name}".encode())

    return make
