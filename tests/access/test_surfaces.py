"""Every URL, as every kind of caller.

TABLE says how to request each URL pattern of the project: the surface it
belongs to (a page, the REST API, the registry, its token endpoint, or
/v1/), the method, and a path in which ``{repo}`` is acme/vault (private) or
acme/nothing (missing). EXEMPT lists what is deliberately left out, with the
reason. test_every_url_pattern_is_in_the_table fails for a pattern in
neither, so a new URL cannot arrive unlisted.

Three kinds of rows:

- repository: the URL names a repository. To a caller who may not read
  acme/vault, it answers exactly as for acme/nothing (status, body and
  headers, once the name is swapped). A caller who may read it succeeds if
  it may take the row's action, and is refused with 403 (on the registry:
  DENIED, or 401 insufficient_scope with a bearer token) if not.
- listing: acme/vault is listed exactly to those who may read it.
- other: nothing of acme/vault (its name, its description) shows to those
  who may not read it.

One difference cannot be helped: someone who may create repositories in
acme (mona, a member) tells a taken name from a free one by pushing to it or
creating it. On those rows (``reveals_to_creators``) such a caller is only
checked not to succeed.
"""

import re
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.registry.helpers import sha256

from .conftest import (
    ADMIN,
    ANONYMOUS,
    CALLERS,
    CANARIES,
    CREATORS_IN_ACME,
    DELETE,
    MISSING,
    PASSWORD,
    PRIVATE,
    PUBLIC,
    PULL,
    PUSH,
    REFUSED,
    STAR,
    Caller,
    fingerprint,
    may_read,
    rights,
    send,
    token_claims,
)

pytestmark = pytest.mark.django_db

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
JSON = "application/json"
TOKEN = "/token?service=hub-registry&scope=repository:{repo}"
UPLOADS = "/v2/{repo}/blobs/uploads/"
UPLOAD = "/v2/{repo}/blobs/uploads/{upload}"
BLOB = "/v2/{repo}/blobs/{layer}"
LATEST = "/v2/{repo}/manifests/latest"
CHUNK = b"a chunk of a blob"
CHUNK_DIGEST = sha256(CHUNK)


def oauth2_form(actions):
    return {
        "grant_type": "password",
        "service": "hub-registry",
        "client_id": "access-tests",
        "scope": f"repository:{{repo}}:{actions}",
    }


@dataclass(frozen=True)
class Surface:
    key: str  # the URL pattern: its namespaced name, or its route when it has no name
    id: str
    family: str  # "page", "api", "registry", "token" or "v1": which credentials it takes
    kind: str  # "repository", "listing" or "other"
    method: str = "GET"
    # "{repo}": acme/vault or acme/nothing; "{name}": vault or nothing; other
    # fields (build, rule, webhook, upload, layer, …) come from World.ids.
    path: str = ""
    # What a repository row needs on acme/vault; None: it takes no action of
    # its own (a create, an unknown path), so only private ≅ missing is checked.
    action: str | None = PULL
    ok: tuple = (200,)
    body: object = None  # a dict (a form, or JSON for the API), or bytes
    headers: dict = field(default_factory=dict)
    # A push or a create: to someone who may create repositories in acme it
    # tells a taken name from a free one, as it must.
    reveals_to_creators: bool = False
    always: tuple = (PUBLIC,)  # a listing's rows that everyone sees
    callers: tuple | None = None  # by default, CALLERS[family]


def repo(family, key, id, request, action=PULL, ok=200, **extra):
    """A row about one repository: ``request`` is "METHOD path"."""
    method, path = request.split(" ", 1)
    ok = ok if isinstance(ok, tuple) else (ok,)
    return Surface(key, f"{family}-{id}", family, "repository", method, path, action, ok, **extra)


def listing(family, key, id, path, **extra):
    return Surface(key, f"{family}-{id}", family, "listing", "GET", path, **extra)


def other(family, key, id, request, **extra):
    method, path = request.split(" ", 1)
    return Surface(key, f"{family}-{id}", family, "other", method, path, None, (), **extra)


R = "/r/{repo}"
BUILDS = "/r/{repo}/builds"
CONFIGURE = "/r/{repo}/builds/configure"
WEBHOOKS = "/r/{repo}/settings/webhooks"
WEBHOOK = "/r/{repo}/settings/webhooks/{webhook}/"
COLLABORATORS = "/r/{repo}/settings/collaborators/"
TEAM = "/orgs/acme/teams/writers"
API = "/api/v1/repositories/{repo}"
RULES = "immutable-tag-rules/"
MANIFEST = {"Accept": OCI_MANIFEST}
SETTINGS_FORM = {"description": "changed", "full_description": "", "visibility": "private"}
CREATES = {"reveals_to_creators": True}
CREATE_FORM = {
    "body": {"namespace": "acme", "name": "{name}", "visibility": "private"},
    **CREATES,
}
# The schema only describes the API, and takes a while to build: two callers.
SCHEMA_CALLERS = {"callers": (ANONYMOUS, Caller("olivia", "session"))}

# One row a line where it fits: a table reads down, not across.
# fmt: off
TABLE = (
    # Pages: a repository and its tabs -----------------------------------------------
    listing("page", "home", "home", "/"),
    listing("page", "search", "search", "/search/?q=vault", always=()),
    listing("page", "user-detail", "profile", "/u/olivia/"),
    listing("page", "organization-detail", "organization", "/orgs/acme/"),
    repo("page", "repository-detail", "repository", f"GET {R}/"),
    repo("page", "repository-tags", "tags", f"GET {R}/tags/"),
    repo("page", "tag-delete", "tag-delete", f"POST {R}/tags/latest/delete/", ADMIN, 302),
    repo("page", "repository-settings", "settings", f"GET {R}/settings/", ADMIN),
    repo(
        "page", "repository-settings", "settings-save", f"POST {R}/settings/", ADMIN, 302,
        body=SETTINGS_FORM,
    ),
    repo("page", "repository-delete", "delete", f"POST {R}/settings/delete/", ADMIN),
    repo(
        "page", "immutable-tag-rule-add", "immutable-tag-rule-add",
        f"POST {R}/settings/immutable-tags/", ADMIN, 302, body={"pattern": "x-*"},
    ),
    repo(
        "page", "immutable-tag-rule-delete", "immutable-tag-rule-delete",
        f"POST {R}/settings/immutable-tags/{{immutable_rule}}/delete/", ADMIN, 302,
    ),
    repo("page", "repository-collaborators", "collaborators", f"GET {COLLABORATORS}", ADMIN),
    repo(
        "page", "repository-collaborators", "collaborator-add",
        f"POST {COLLABORATORS}", ADMIN, 302, body={"user": "ursula", "permission": "read"},
    ),
    repo(
        "page", "repository-collaborator-update", "collaborator-update",
        f"POST {COLLABORATORS}rita/", ADMIN, 302, body={"permission": "write"},
    ),
    repo("page", "repository-star", "star", f"POST {R}/star/", STAR, 302, body={"action": "star"}),
    repo("page", "repository-create", "create", "POST /new/", None, 302, **CREATE_FORM),
    # Pages: a repository's webhooks and builds ----------------------------------------
    repo("page", "webhook-list", "webhooks", f"GET {WEBHOOKS}/", ADMIN),
    repo("page", "webhook-list", "webhook-add", f"POST {WEBHOOKS}/", ADMIN),
    repo("page", "webhook-detail", "webhook", f"GET {WEBHOOK}", ADMIN),
    repo("page", "webhook-delete", "webhook-delete", f"POST {WEBHOOK}delete/", ADMIN, 302),
    repo("page", "webhook-test", "webhook-test", f"POST {WEBHOOK}test/", ADMIN, 302),
    repo("page", "repository-builds", "builds", f"GET {BUILDS}/"),
    repo("page", "build-detail", "build", f"GET {BUILDS}/{{build}}/"),
    repo("page", "build-log", "build-log", f"GET {BUILDS}/{{build}}/log"),
    repo("page", "build-cancel", "build-cancel", f"POST {BUILDS}/{{build}}/cancel/", ADMIN, 302),
    repo("page", "build-retry", "build-retry", f"POST {BUILDS}/{{build}}/retry/", ADMIN, 302),
    repo("page", "build-configure", "configure", f"GET {CONFIGURE}/", ADMIN),
    repo(
        "page", "build-configure", "configure-save", f"POST {CONFIGURE}/", ADMIN, 302,
        body={"provider": "git"},
    ),
    repo(
        "page", "build-settings-delete", "configure-delete", f"POST {CONFIGURE}/delete/", ADMIN, 302
    ),
    repo("page", "build-trigger-token", "trigger-token", f"POST {CONFIGURE}/trigger-token/", ADMIN),
    repo("page", "build-rule-add", "rule-add", f"POST {CONFIGURE}/rules/", ADMIN),
    repo("page", "build-rule-update", "rule-update", f"POST {CONFIGURE}/rules/{{rule}}/", ADMIN),
    repo(
        "page", "build-rule-delete", "rule-delete", f"POST {CONFIGURE}/rules/{{rule}}/delete/",
        ADMIN, 302,
    ),
    repo(
        "page", "build-rule-trigger", "rule-trigger", f"POST {CONFIGURE}/rules/{{rule}}/trigger/",
        ADMIN, 302,
    ),
    repo("page", "build-variable-set", "variable-set", f"POST {CONFIGURE}/variables/", ADMIN),
    repo(
        "page", "build-variable-delete", "variable-delete", f"POST {CONFIGURE}/variables/delete/",
        ADMIN, 302, body={"name": "SECRET"},
    ),
    repo("page", "build-link-add", "link-add", f"POST {CONFIGURE}/links/", ADMIN),
    repo(
        "page", "build-link-remove", "link-remove", f"POST {CONFIGURE}/links/{{link}}/delete/",
        ADMIN, 302,
    ),
    # Pages: people, organizations, settings -------------------------------------------
    other("page", "repository-create", "create-form", "GET /new/"),
    other("page", "organization-create", "organization-create", "GET /orgs/new/"),
    other("page", "organization-members", "members", "GET /orgs/acme/members/"),
    other(
        "page", "organization-member-update", "member-update", "POST /orgs/acme/members/mona/",
        body={"role": "member"},
    ),
    other("page", "organization-teams", "teams", "GET /orgs/acme/teams/"),
    other("page", "team-detail", "team", f"GET {TEAM}/"),
    other(
        "page", "team-member-add", "team-member-add", f"POST {TEAM}/members/",
        body={"user": "ursula"},
    ),
    other("page", "team-member-remove", "team-member-remove", f"POST {TEAM}/members/walt/remove/"),
    other(
        "page", "team-access-add", "team-access-add", f"POST {TEAM}/repositories/",
        body={"repository": "{vault_pk}", "permission": "read"},
    ),
    other(
        "page", "team-access-delete", "team-access-delete",
        f"POST {TEAM}/repositories/{{team_access}}/remove/",
    ),
    other("page", "team-delete", "team-delete", f"POST {TEAM}/delete/"),
    other("page", "organization-settings", "organization-settings", "GET /orgs/acme/settings/"),
    other("page", "settings-account", "account-settings", "GET /settings/"),
    other("page", "access-token-list", "tokens", "GET /settings/tokens/"),
    other(
        "page", "access-token-revoke", "token-revoke",
        "POST /settings/tokens/{read_token_pk}/revoke/",
    ),
    other("page", "settings-organizations", "organizations", "GET /settings/organizations/"),
    # The REST API ---------------------------------------------------------------------
    listing("api", "api:repositories", "search", "/api/v1/repositories/?q=vault", always=()),
    listing("api", "api:repositories", "repositories", "/api/v1/repositories/"),
    listing("api", "api:repositories", "namespace-filter", "/api/v1/repositories/?namespace=acme"),
    listing("api", "api:org-repositories", "org-repositories", "/api/v1/orgs/acme/repositories/"),
    listing("api", "api:user-starred", "starred", "/api/v1/users/olivia/starred/"),
    repo(
        "api", "api:repositories", "repository-create", "POST /api/v1/repositories/", None, 201,
        body={"namespace": "acme", "name": "{name}"}, **CREATES,
    ),
    repo("api", "api:repository", "repository-detail", f"GET {API}/"),
    repo(
        "api", "api:repository", "repository-patch", f"PATCH {API}/", ADMIN,
        body={"description": "changed"},
    ),
    repo("api", "api:repository", "repository-delete", f"DELETE {API}/", DELETE, 204),
    repo("api", "api:tags", "tags", f"GET {API}/tags/"),
    repo("api", "api:tag", "tag", f"GET {API}/tags/latest/"),
    repo("api", "api:tag", "tag-delete", f"DELETE {API}/tags/latest/", DELETE, 204),
    repo("api", "api:repository-immutable-tag-rules", "rules", f"GET {API}/{RULES}", ADMIN),
    repo(
        "api", "api:repository-immutable-tag-rules", "rule-add", f"POST {API}/{RULES}", ADMIN,
        201, body={"pattern": "x-*"},
    ),
    repo(
        "api", "api:repository-immutable-tag-rule", "rule",
        f"GET {API}/{RULES}{{immutable_rule}}/", ADMIN,
    ),
    repo(
        "api", "api:repository-immutable-tag-rule", "rule-delete",
        f"DELETE {API}/{RULES}{{immutable_rule}}/", ADMIN, 204,
    ),
    repo("api", "api:star", "star", f"GET {API}/star/"),
    repo("api", "api:star", "star-put", f"PUT {API}/star/", STAR),
    repo("api", "api:star", "star-delete", f"DELETE {API}/star/", STAR),
    other(
        "api", "api:user-repositories", "user-repositories",
        "GET /api/v1/users/olivia/repositories/",
    ),
    other("api", "api:user", "user", "GET /api/v1/users/olivia/"),
    other("api", "api:org", "org", "GET /api/v1/orgs/acme/"),
    other("api", "api:org-members", "org-members", "GET /api/v1/orgs/acme/members/"),
    other("api", "api:user-immutable-tag-rules", "user-rules", f"GET /api/v1/users/olivia/{RULES}"),
    other(
        "api", "api:user-immutable-tag-rule", "user-rule",
        f"DELETE /api/v1/users/olivia/{RULES}{{namespace_rule}}/",
    ),
    other("api", "api:org-immutable-tag-rules", "org-rules", f"GET /api/v1/orgs/acme/{RULES}"),
    other(
        "api", "api:org-immutable-tag-rule", "org-rule",
        f"GET /api/v1/orgs/acme/{RULES}{{namespace_rule}}/",
    ),
    other("api", "api:org-teams", "org-teams", "GET /api/v1/orgs/acme/teams/"),
    other("api", "api:user-storage", "user-storage", "GET /api/v1/users/olivia/storage/"),
    other("api", "api:org-storage", "org-storage", "GET /api/v1/orgs/acme/storage/"),
    other("api", "api:schema", "schema", "GET /api/schema/", **SCHEMA_CALLERS),
    other("api", "api:docs", "docs", "GET /api/docs/", **SCHEMA_CALLERS),
    # The token endpoint: what it grants on acme/vault ------------------------------------
    repo("token", "registry-token", "pull", f"GET {TOKEN}:pull"),
    repo("token", "registry-token", "push", f"GET {TOKEN}:pull,push,delete", **CREATES),
    repo("token", "registry-token", "oauth2-pull", "POST /token", body=oauth2_form("pull")),
    repo(
        "token", "registry-token", "oauth2-push", "POST /token",
        body=oauth2_form("pull,push,delete"), **CREATES,
    ),
    # The registry ----------------------------------------------------------------------
    listing("registry", "registry:catalog", "catalog", "/v2/_catalog"),
    other("registry", "registry:root", "root", "GET /v2/"),
    repo("registry", "registry:upload_start", "upload", f"POST {UPLOADS}", PUSH, 202, **CREATES),
    repo("registry", "registry:upload", "upload-status", f"GET {UPLOAD}", PUSH, 204, **CREATES),
    repo(
        "registry", "registry:upload", "upload-patch", f"PATCH {UPLOAD}", PUSH, 202, body=CHUNK,
        **CREATES,
    ),
    repo(
        "registry", "registry:upload", "upload-put", f"PUT {UPLOAD}?digest={CHUNK_DIGEST}", PUSH,
        201, body=CHUNK, **CREATES,
    ),
    repo("registry", "registry:upload", "upload-cancel", f"DELETE {UPLOAD}", PUSH, 204, **CREATES),
    repo("registry", "registry:blob", "blob", f"GET {BLOB}"),
    repo("registry", "registry:blob", "blob-head", f"HEAD {BLOB}"),
    repo("registry", "registry:blob", "blob-delete", f"DELETE {BLOB}", DELETE, 202),
    repo("registry", "registry:manifest", "manifest", f"GET {LATEST}", headers=MANIFEST),
    repo("registry", "registry:manifest", "manifest-head", f"HEAD {LATEST}", headers=MANIFEST),
    repo(
        "registry", "registry:manifest", "manifest-put", f"PUT {LATEST}", PUSH, 201,
        body="{manifest_payload}", headers={"Content-Type": OCI_MANIFEST}, **CREATES,
    ),
    repo("registry", "registry:manifest", "manifest-delete", f"DELETE {LATEST}", DELETE, 202),
    repo("registry", "registry:tags", "tags", "GET /v2/{repo}/tags/list"),
    repo("registry", "registry:referrers", "referrers", "GET /v2/{repo}/referrers/{manifest}"),
    repo(
        "registry", "v2/^(?P<path>.*)$", "unknown-endpoint", "GET /v2/{repo}/no-such-endpoint",
        None,
    ),
    # docker search --------------------------------------------------------------------
    listing("v1", "v1-search", "search", "/v1/search?q=vault", always=()),
    other("v1", "v1-ping", "ping", "GET /v1/_ping"),
)
# fmt: on

EXEMPT = {
    "library-detail": (
        "repository_detail for the namespace 'library' (repositories/views.py "
        "library_detail): the same view and checks as repository-detail, which is walked"
    ),
    **{
        f"builds:hook-{provider}": (
            "a provider's webhook receiver, keyed by the secret hook UUID of one "
            "repository's build settings and verified by the provider's signature or "
            "the trigger token; it takes no caller credentials and tells nothing about "
            "other repositories (tests/builds/test_webhooks.py)"
        )
        for provider in ("github", "bitbucket", "generic", "generic-token")
    },
    **{
        name: (
            "a health probe (hub/health.py): it names services and their state, never "
            "a repository or anything of a caller (tests/hub/test_health.py)"
        )
        for name in ("healthy", "ready")
    },
    "metrics": (
        "Prometheus metrics (hub/metrics.py): counts by route group, never a path, a "
        "repository or a caller; closed unless HUB_METRICS_TOKEN or HUB_METRICS_NETWORKS "
        "opens it (tests/hub/test_metrics.py)"
    ),
    "builds:webhook-callback": (
        "a repository webhook's callback, keyed by a delivery id and its HMAC token; "
        "it takes no caller credentials (tests/builds/test_notifications.py)"
    ),
}
# Whole includes left out, told by their URLconf module or application name.
EXEMPT_INCLUDES = {
    "admin": "Django's admin: staff only, and staff may read everything",
    "allauth.urls": "allauth's log-in, sign-up, password and social pages: no repository data",
}


# The URL patterns --------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    key: str
    route: str
    view: str


def _include_name(resolver):
    if resolver.app_name in EXEMPT_INCLUDES:
        return resolver.app_name
    urlconf = resolver.urlconf_name  # a module's dotted path or the module, or a list
    return urlconf if isinstance(urlconf, str) else getattr(urlconf, "__name__", None)


def url_patterns(resolver=None, prefix="", namespaces=()):
    """Every URL pattern outside the exempt includes, with its key."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if _include_name(entry) in EXEMPT_INCLUDES:
                continue
            inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from url_patterns(entry, route, inner)
        elif isinstance(entry, URLPattern):
            key = ":".join((*namespaces, entry.name)) if entry.name else route
            view = f"{entry.callback.__module__}.{getattr(entry.callback, '__name__', '?')}"
            yield Pattern(key, route, view)


def test_every_url_pattern_is_in_the_table():
    listed = {surface.key for surface in TABLE} | set(EXEMPT)
    unlisted = [p for p in url_patterns() if p.key not in listed]
    assert not unlisted, "URL patterns missing from tests/access/test_surfaces.py TABLE:\n" + (
        "\n".join(f"  {p.key!r}: route {p.route!r}, view {p.view}" for p in unlisted)
    )


def test_every_url_pattern_has_a_key_of_its_own():
    keys = [p.key for p in url_patterns()]
    shared = sorted({key for key in keys if keys.count(key) > 1})
    assert not shared, f"URL patterns sharing a name, which the table cannot tell apart: {shared}"


def test_every_table_entry_is_a_url_pattern_and_requests_it(world):
    keys = {p.key for p in url_patterns()}
    stale = sorted({surface.key for surface in TABLE} - keys) + sorted(set(EXEMPT) - keys)
    assert not stale, f"table entries that name no URL pattern: {stale}"
    for surface in TABLE:
        path = fill(surface.path, world, PRIVATE).split("?", 1)[0]
        match = resolve(path)
        # A match's route drops the "^" of a regex pattern's start.
        key = match.view_name if match.url_name else match.route
        expected = surface.key if match.url_name else surface.key.replace("^", "")
        assert key == expected, f"{surface.id}: {path} resolves to {key}, not {surface.key}"


# Requests ----------------------------------------------------------------------------


def fill(template, world, repo):
    name = repo.split("/", 1)[1]
    values = {"repo": repo, "name": name, **world.ids}
    if isinstance(template, str):
        if template == "{manifest_payload}":
            return world.ids["manifest_payload"]
        return template.format(**values)
    if isinstance(template, dict):
        return {key: fill(value, world, repo) for key, value in template.items()}
    return template


def request(surface, caller, world, repo=PRIVATE):
    headers = dict(surface.headers)
    content_type = headers.pop("Content-Type", None)
    if surface.family == "api" and isinstance(surface.body, dict):
        content_type = JSON
    body = fill(surface.body, world, repo)
    if surface.family == "page" and surface.method == "POST" and body is None:
        body = {}  # an empty form
    if surface.family == "token" and surface.method == "POST":
        # The OAuth2 form carries the credentials itself.
        body = {**body, **_password_grant(caller, world)}
        caller = ANONYMOUS
    return send(
        world,
        caller,
        surface.method,
        fill(surface.path, world, repo),
        body,
        content_type=content_type,
        headers=headers,
    )


def _password_grant(caller, world):
    if caller.who == "anonymous":
        return {"username": "", "password": ""}
    secret = world.secret(caller.who) if caller.is_token else PASSWORD
    return {"username": caller.username, "password": secret}


# Judging responses -------------------------------------------------------------------


def granted(response):
    """The actions a token response grants on acme/vault."""
    access = token_claims(response)["access"]
    return {a for entry in access if entry["name"] == PRIVATE for a in entry["actions"]}


def requested(surface):
    """The actions a /token row asks for."""
    scope = surface.body["scope"] if surface.body else surface.path.rsplit("scope=", 1)[1]
    return set(scope.rsplit(":", 1)[1].split(","))


def error_codes(response):
    try:
        return [error["code"] for error in response.json()["errors"]]
    except (ValueError, KeyError, TypeError):
        return []


def assert_forbidden(response, surface, caller):
    """A reader that may not take the action: 403, or on the registry DENIED
    (Basic) or a challenge for the scope it lacks (bearer)."""
    if surface.family == "registry" and caller.how == "jwt":
        assert response.status_code == 401, response.content
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    else:
        assert response.status_code == 403, response.content
        if surface.family == "registry" and surface.method != "HEAD":
            assert error_codes(response) == ["DENIED"]


def creates_in_acme(caller, family):
    who = caller.who if family != "page" or caller.how == "session" else "anonymous"
    return who in CREATORS_IN_ACME


# The tests ---------------------------------------------------------------------------


def params(kind):
    return [
        pytest.param(surface, caller, id=f"{surface.id}[{caller.id}]")
        for surface in TABLE
        if surface.kind == kind
        for caller in surface.callers or CALLERS[surface.family]
    ]


@pytest.mark.parametrize(("surface", "caller"), params("repository"))
def test_repository_surface(world, surface, caller):
    standing = rights(caller, surface.family)
    private = request(surface, caller, world, PRIVATE)
    assert private.status_code < 500, private.content

    if standing == REFUSED:
        if surface.action is not None:  # not an unknown endpoint, which answers 404 to all
            assert private.status_code == 401, private.content
    elif PULL in standing:
        if surface.family == "token":
            assert private.status_code == 200, private.content
            assert granted(private) == standing & requested(surface)
        elif surface.action is None:
            pass
        elif surface.action in standing:
            assert private.status_code in surface.ok, private.content
        else:
            assert_forbidden(private, surface, caller)
        return

    if surface.reveals_to_creators and creates_in_acme(caller, surface.family):
        # A push or a create tells a taken name from a free one; all it may not do is succeed.
        if surface.family == "token":
            assert private.status_code != 200 or not granted(private)
        else:
            assert private.status_code not in surface.ok, private.content
        return
    missing = request(surface, caller, world, MISSING)
    assert fingerprint(private, surface.family, swap=True) == fingerprint(
        missing, surface.family
    ), f"{PRIVATE} answers {caller.id} otherwise than {MISSING} on {surface.id}"


def listed_names(response, family):
    if family == "page":
        body = response.content.decode()
        return {"/".join(m) for m in re.findall(r'href="/r/([a-z0-9]+)/([a-z0-9._-]+)/"', body)}
    body = response.json()
    if family == "api":
        return {row["full_name"] for row in body["results"]}
    if family == "v1":
        return {row["name"] for row in body["results"]}
    return set(body["repositories"])


@pytest.mark.parametrize(("surface", "caller"), params("listing"))
def test_listing(world, surface, caller):
    response = request(surface, caller, world)
    standing = rights(caller, surface.family)
    refused_catalog = surface.key == "registry:catalog" and caller.who == "build-token"
    if (
        standing == REFUSED
        or refused_catalog
        or (surface.family == "registry" and caller == ANONYMOUS)
    ):
        assert response.status_code in (401, 403), response.content
        assert not leaks(response)
        return
    assert response.status_code == 200, response.content
    names = listed_names(response, surface.family)
    if may_read(caller, surface.family):
        assert PRIVATE in names
    else:
        assert PRIVATE not in names
        assert not leaks(response)
    assert set(surface.always) <= names


def leaks(response):
    body = response.content.decode(errors="replace")
    return [canary for canary in CANARIES if canary in body]


@pytest.mark.parametrize(("surface", "caller"), params("other"))
def test_other_surface(world, surface, caller):
    response = request(surface, caller, world)
    assert response.status_code < 500, response.content
    if not may_read(caller, surface.family):
        assert not leaks(response), f"{surface.id} shows {caller.id} {leaks(response)}"
