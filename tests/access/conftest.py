"""One world, every kind of caller, and a way to send a request as each.

The world is built once per test module inside a transaction that is rolled
back when the module ends; every test runs in a savepoint of its own (the
``db`` fixture), so what a test changes is gone before the next one.

acme (an organization, owned by olivia) holds three repositories, each with
one pushed image (tag ``latest``):

- acme/vault, private. walt is on the team ``writers`` (WRITE on it), rita a
  READ collaborator, olivia its owner, stan staff. mona is a member of acme
  outside the team; ursula is nobody to acme.
- acme/open, public.
- acme/builder, private, the repository olivia's build token is for.

acme/nothing does not exist. olivia starred acme/vault and acme/open. She
holds personal access tokens (read, write, full; a revoked one and an
expired one) and a build's token for acme/builder. acme/vault also has build
settings with a rule, a build, a link, a webhook and an open upload session,
so that every URL under it has something to show.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AccessToken, Membership
from builds import services as build_services
from builds.models import RepositoryWebhook
from repositories import immutability, services
from repositories.models import Permission
from tests.api.helpers import push_image
from tests.helpers import basic_auth
from tests.registry.helpers import sha256

PASSWORD = "correct horse battery"
SERVICE = "hub-registry"
PRIVATE, PUBLIC, MISSING = "acme/vault", "acme/open", "acme/nothing"
# Words only acme/vault's own data holds: a page that shows them to someone
# who may not read acme/vault gives it away.
CANARIES = ("acme/vault", "crown jewels")


# The world -------------------------------------------------------------------------


@dataclass
class World:
    users: dict
    repositories: dict
    tokens: dict  # name → AccessToken
    secrets: dict  # name → the token's secret
    ids: dict = field(default_factory=dict)  # what URLs need: build, rule, webhook, …

    def secret(self, name):
        return self.secrets[name]


def _make_user(username, **fields):
    return get_user_model().objects.create_user(
        username, f"{username}@example.com", PASSWORD, **fields
    )


def build_world():
    users = {name: _make_user(name) for name in ("olivia", "walt", "mona", "rita", "ursula")}
    users["stan"] = _make_user("stan", is_staff=True)
    olivia = users["olivia"]

    acme = account_services.organization_create(name="acme", owner=olivia)
    account_services.membership_set(
        organization=acme, user=users["mona"], role=Membership.Role.MEMBER
    )
    writers = account_services.team_create(organization=acme, name="writers")
    account_services.team_member_add(team=writers, user=users["walt"])

    repositories, manifests = {}, {}
    for name, visibility, description in (
        ("vault", "private", "the crown jewels"),
        ("open", "public", "open to all"),
        ("builder", "private", "builds things"),
    ):
        repository = services.repository_create(
            namespace=acme.namespace, name=name, visibility=visibility, description=description
        )
        # Each its own layer, so that no other repository holds it.
        layer = f"the layer of acme/{name}".encode()
        manifests[name] = push_image(repository, "latest", layers=(layer,), pusher=olivia)
        repositories[name] = repository
    vault = repositories["vault"]

    access = services.team_access_set(team=writers, repository=vault, permission=Permission.WRITE)
    services.collaborator_set(repository=vault, user=users["rita"], permission=Permission.READ)
    services.star_add(user=olivia, repository=vault)
    services.star_add(user=olivia, repository=repositories["open"])

    tokens, secrets = {}, {}
    for scope in ("read", "write", "full"):
        tokens[f"{scope}-token"], secrets[f"{scope}-token"] = account_services.access_token_create(
            user=olivia, name=f"{scope} token", scope=scope
        )
    tokens["revoked-token"], secrets["revoked-token"] = account_services.access_token_create(
        user=olivia, name="revoked token", scope="full"
    )
    account_services.access_token_revoke(token=tokens["revoked-token"])
    tokens["expired-token"], secrets["expired-token"] = account_services.access_token_create(
        user=olivia, name="expired token", scope="full"
    )
    AccessToken.objects.filter(pk=tokens["expired-token"].pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    tokens["build-token"], secrets["build-token"] = account_services.access_token_create(
        user=olivia,
        name="Build 1",
        scope="write",
        kind=AccessToken.Kind.BUILD,
        repository_name="acme/builder",
        expires_at=timezone.now() + timedelta(hours=1),
    )

    # Builds and a webhook on acme/vault, so every page under it has something to show.
    build_settings = build_services.build_settings_create(
        repository=vault, provider="github", source="acme/vault", linked_user=olivia
    ).settings
    rule = build_settings.rules.get()
    build = build_services.build_trigger(rule=rule, user=olivia)
    link = build_services.build_link_add(
        settings=build_settings, upstream=repositories["open"], user=olivia
    )
    # Made directly: the service would resolve the URL's host (no network here).
    webhook = RepositoryWebhook.objects.create(
        repository=vault, name="ci", url="https://hooks.example.com/vault"
    )
    upload = services.upload_start(repository=vault)
    # Rules that protect no tag the other rows touch.
    immutable_rule = immutability.rule_create(repository=vault, pattern="v*")
    namespace_rule = immutability.rule_create(namespace=vault.namespace, pattern="release-*")

    ids = {
        "build": build.pk,
        "rule": rule.pk,
        "link": link.pk,
        "webhook": webhook.pk,
        "immutable_rule": immutable_rule.pk,
        "namespace_rule": namespace_rule.pk,
        "upload": str(upload.uuid),
        "team_access": access.pk,
        "vault_pk": vault.pk,
        "read_token_pk": tokens["read-token"].pk,
        "manifest": manifests["vault"].digest,
        "manifest_payload": bytes(manifests["vault"].payload),
        "layer": sha256(b"the layer of acme/vault"),
    }
    return World(users, repositories, tokens, secrets, ids)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The world, for every test of a module (which must use the database:
    each test then runs in a savepoint inside this transaction)."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            built = build_world()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


# Callers ---------------------------------------------------------------------------

PULL, PUSH, DELETE, ADMIN, STAR = "pull", "push", "delete", "admin", "star"
EVERYTHING = frozenset({PULL, PUSH, DELETE, ADMIN, STAR})
REFUSED = "refused"  # 401, whatever is asked

# What each identity may do to acme/vault (the rules of README's "Accounts and
# access", spelled out rather than asked of permissions.can).
VAULT_RIGHTS = {
    "anonymous": frozenset(),
    "ursula": frozenset(),
    "mona": frozenset(),
    "rita": frozenset({PULL, STAR}),
    "walt": frozenset({PULL, PUSH, STAR}),
    "olivia": EVERYTHING,
    "stan": EVERYTHING,
    "read-token": frozenset({PULL}),
    "write-token": frozenset({PULL, PUSH, STAR}),
    "full-token": EVERYTHING,
    # Through the registry it pulls what olivia reads; everywhere else it is refused.
    "build-token": frozenset({PULL}),
    "revoked-token": REFUSED,
    "expired-token": REFUSED,
}
# Who may create repositories in acme (members may, by default): to them a
# push, or a create, tells a taken name from a free one, as it must.
CREATORS_IN_ACME = {"olivia", "stan", "walt", "mona"}
USERS = ("ursula", "mona", "rita", "walt", "olivia", "stan")
LIVE_TOKENS = ("read-token", "write-token", "full-token", "build-token")
DEAD_TOKENS = ("revoked-token", "expired-token")
TOKENS = LIVE_TOKENS + DEAD_TOKENS


@dataclass(frozen=True)
class Caller:
    """``who``: "anonymous", a username, or one of olivia's tokens.
    ``how``: "none", "session" (a browser's login), "password" (Basic with
    the password), "basic" (Basic ``olivia:<token secret>``), "bearer"
    (``Authorization: Bearer hub_pat_…``), "jwt" (a registry bearer token
    from /token, fetched with the password or token as Basic credentials,
    or with none for anonymous)."""

    who: str
    how: str

    @property
    def id(self):
        if self.who == "anonymous":
            return "anonymous" if self.how == "none" else f"anonymous-{self.how}"
        return f"{self.who}-{self.how}"

    @property
    def is_token(self):
        return self.who in TOKENS

    @property
    def username(self):
        return "olivia" if self.is_token else self.who


def _callers(*pairs):
    return tuple(Caller(who, how) for who, how in pairs)


ANONYMOUS = Caller("anonymous", "none")
# Pages take the browser session only: the rest are anonymous there.
PAGE_CALLERS = (
    ANONYMOUS,
    *_callers(*((user, "session") for user in USERS)),
    *_callers(
        ("olivia", "password"),
        ("full-token", "basic"),
        ("full-token", "bearer"),
        ("build-token", "basic"),
    ),
)
API_CALLERS = (
    ANONYMOUS,
    *_callers(*((user, "session") for user in USERS)),
    Caller("olivia", "password"),
    *_callers(*((token, how) for token in TOKENS for how in ("basic", "bearer"))),
)
# A revoked or expired token gets no registry token at all (see test_scopes), so
# it has no "jwt" caller.
REGISTRY_CALLERS = (
    ANONYMOUS,
    Caller("anonymous", "jwt"),
    *_callers(*((user, how) for user in USERS for how in ("password", "jwt"))),
    *_callers(*((token, how) for token in LIVE_TOKENS for how in ("basic", "jwt"))),
    *_callers(*((token, "basic") for token in DEAD_TOKENS)),
)
TOKEN_ENDPOINT_CALLERS = (
    ANONYMOUS,
    *_callers(*((user, "password") for user in USERS)),
    *_callers(*((token, "basic") for token in TOKENS)),
)
V1_CALLERS = REGISTRY_CALLERS
CALLERS = {
    "page": PAGE_CALLERS,
    "api": API_CALLERS,
    "registry": REGISTRY_CALLERS,
    "token": TOKEN_ENDPOINT_CALLERS,
    "v1": V1_CALLERS,
}


def rights(caller, family):
    """What ``caller`` may do to acme/vault through surfaces of ``family``
    ("page", "api", "registry", "token", "v1"): a set of actions, or REFUSED."""
    if family == "page":
        # A page knows the browser session only; any Authorization header is ignored.
        return VAULT_RIGHTS[caller.who] if caller.how == "session" else VAULT_RIGHTS["anonymous"]
    if caller.who == "build-token" and family in ("api", "v1"):
        return REFUSED
    return VAULT_RIGHTS[caller.who]


def may_read(caller, family):
    granted = rights(caller, family)
    return granted != REFUSED and PULL in granted


# Sending requests ------------------------------------------------------------------

_REGISTRY_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)/")


def registry_scope(method, path):
    """The scope a Docker client asks /token for before this request."""
    path = path.split("?", 1)[0]
    if path.startswith("/v2/_catalog"):
        return "registry:catalog:*"
    match = _REGISTRY_PATH.match(path)
    if match is None:
        return None
    if "/blobs/uploads" in path or method not in ("GET", "HEAD", "DELETE"):
        actions = "pull,push"  # a client in the middle of a push holds a push token
    elif method in ("GET", "HEAD"):
        actions = "pull"
    else:
        actions = "delete"
    return f"repository:{match['name']}:{actions}"


def secret_of(world, caller):
    return world.secret(caller.who) if caller.is_token else PASSWORD


def basic_of(world, caller):
    if caller.who == "anonymous":
        return None
    return basic_auth(caller.username, secret_of(world, caller))


def registry_token(world, caller, *scopes):
    """A bearer token from GET /token, as a registry client fetches one."""
    query = urlencode([("service", SERVICE), *(("scope", scope) for scope in scopes)])
    basic = basic_of(world, caller)
    headers = {"Authorization": basic} if basic else {}
    response = Client().get(f"/token?{query}", headers=headers)
    assert response.status_code == 200, (caller.id, response.status_code, response.content)
    return response.json()["token"]


def authorization(world, caller, method, path):
    """The Authorization header ``caller`` sends with this request, or None."""
    if caller.how in ("none", "session"):
        return None
    if caller.how in ("password", "basic"):
        return basic_of(world, caller)
    if caller.how == "bearer":
        return f"Bearer {world.secret(caller.who)}"
    if caller.how == "jwt":
        scope = registry_scope(method, path)
        return f"Bearer {registry_token(world, caller, *([scope] if scope else []))}"
    raise ValueError(caller.how)


def send(world, caller, method, path, body=None, *, content_type=None, headers=None):
    """``method path`` as ``caller``. ``body``: a dict is sent as a form (or
    as JSON with ``content_type="application/json"``), bytes as they are."""
    client = Client()
    headers = dict(headers or {})
    if caller.how == "session":
        client.force_login(world.users[caller.who])
    header = authorization(world, caller, method, path)
    if header:
        headers["Authorization"] = header
    if content_type == "application/json":
        return client.generic(
            method, path, json.dumps(body or {}), content_type=content_type, headers=headers
        )
    if isinstance(body, dict):
        return client.generic(
            method,
            path,
            urlencode(body),
            content_type="application/x-www-form-urlencoded",
            headers=headers,
        )
    return client.generic(
        method,
        path,
        body or b"",
        content_type=content_type or "application/octet-stream",
        headers=headers,
    )


# What is compared --------------------------------------------------------------------

COMPARED_HEADERS = (
    "WWW-Authenticate",
    "Location",
    "Content-Type",
    "Allow",
    "Docker-Distribution-API-Version",
    "Docker-Content-Digest",
    "Retry-After",
)
# A masked CSRF token differs on every render.
_CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=")[A-Za-z0-9]+"')


def fingerprint(response, family, swap=False):
    """What a response says, with acme/vault's name swapped for acme/nothing's
    when ``swap``, and what differs between any two responses left out."""

    def text(value):
        return value.replace("vault", "nothing") if swap else value

    headers = {h: text(response[h]) for h in COMPARED_HEADERS if response.has_header(h)}
    if family == "token" and response.status_code == 200:
        body = text(json.dumps(token_claims(response), sort_keys=True))
    else:
        body = _CSRF.sub(r'\1<csrf>"', text(response.content.decode(errors="replace")))
    return {"status": response.status_code, "headers": headers, "body": body}


def token_claims(response):
    """The parts of a token response that do not change from one request to the next."""
    body = response.json()
    token = body.get("token") or body.get("access_token")
    claims = jwt.decode(token, options={"verify_signature": False})
    return {"access": claims["access"], "sub": claims["sub"], "scope": body.get("scope")}
