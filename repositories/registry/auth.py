"""Who is calling /v2/, and whether it may do what it asks.

A client proves itself with a bearer token from the token endpoint (what
Docker clients do), or with Basic credentials sent straight to /v2/. Without
either it may still pull public repositories, and is told where to get a
token for anything else. A private repository and a missing one answer
alike, so neither is revealed.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils.functional import SimpleLazyObject

from accounts import credentials, registry_tokens
from accounts.models import AccessToken, Namespace

from .. import permissions
from ..oci.names import split_name
from .errors import Denied, NameUnknown, TooManyRequests, Unauthorized


@dataclass
class Principal:
    """The caller: ``actor`` is what permissions.can() judges (a user,
    anonymous, or the access token the caller logged in with, whether it sent
    it here as Basic credentials or a bearer token was issued for it);
    ``access`` is what a bearer token grants (None without one), keyed by
    canonical repository name."""

    actor: object
    access: dict | None = None
    catalog: bool = False
    has_credentials: bool = False
    error: str = ""


def _canonical(name):
    return "/".join(split_name(name))


def _from_bearer(token):
    try:
        claims = registry_tokens.verify(token)
    except registry_tokens.InvalidToken:
        return Principal(AnonymousUser(), error="invalid_token")
    access, catalog = {}, False
    for entry in claims["access"]:
        if entry.get("type") == "repository":
            access.setdefault(_canonical(entry["name"]), set()).update(entry.get("actions", []))
        elif entry.get("type") == "registry" and entry.get("name") == "catalog":
            catalog = True
    username = claims["sub"]
    token_id = claims.get(registry_tokens.ACCESS_TOKEN_CLAIM)
    # The actor is loaded only if a view needs more than ``access`` (a push
    # records its pusher; a mount, the catalog and /v1/search list what the
    # actor may read), so a pull makes no query.
    if token_id is not None:
        actor = SimpleLazyObject(lambda: _token_actor(token_id, username))
    elif username:
        actor = SimpleLazyObject(lambda: _token_user(username))
    else:
        actor = AnonymousUser()
    return Principal(actor, access=access, catalog=catalog, has_credentials=True)


def _token_user(username):
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:  # deleted or deactivated since the token was issued
        raise Unauthorized("the token's user no longer exists")
    return user


def _token_actor(token_id, username):
    token = (
        AccessToken.objects.active()
        .select_related("user", "parent")
        .filter(pk=token_id, user__username=username, user__is_active=True)
        .first()
    )
    if token is None:  # revoked or expired since the registry token was issued
        raise Unauthorized("the access token this login used is no longer valid")
    return token


def principal(request):
    """The Principal for ``request``, worked out once."""
    if not hasattr(request, "_registry_principal"):
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            found = _from_bearer(value.strip())
        elif scheme.lower() == "basic":
            found = Principal(_basic_actor(request, header), has_credentials=True)
        else:
            found = Principal(AnonymousUser())
        request._registry_principal = found
    return request._registry_principal


def _basic_actor(request, header):
    basic = credentials.parse_basic(header)
    try:
        actor = basic and credentials.check(
            request, *basic, token_kinds=credentials.REGISTRY_TOKENS
        )
    except credentials.LockedOut:
        raise TooManyRequests(
            "too many failed login attempts",
            headers={"Retry-After": str(settings.HUB_LOGIN_LOCKOUT_MINUTES * 60)},
        ) from None
    except credentials.TokenNotAccepted as refused:
        raise Unauthorized(str(refused), headers=challenge(request)) from None
    if not actor:
        raise Unauthorized("incorrect username or password", headers=challenge(request))
    return actor


def challenge(request, scope=None, error=""):
    realm = settings.HUB_TOKEN_REALM or request.build_absolute_uri("/token")
    value = f'Bearer realm="{realm}",service="{settings.HUB_REGISTRY_SERVICE}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return {"WWW-Authenticate": value}


def authenticate(request):
    """For /v2/ itself: a caller without valid credentials is challenged."""
    found = principal(request)
    if not found.has_credentials:
        raise Unauthorized(headers=challenge(request, error=found.error))
    return found


def _target(name, repository):
    if repository is not None:
        return repository
    return Namespace.objects.filter(name=split_name(name)[0]).first()


def allowed(request, *, name, repository, action):
    """Whether the caller may take ``action`` on repository ``name``."""
    found = principal(request)
    if found.access is not None:
        return action in found.access.get(_canonical(name), ())
    return permissions.can(found.actor, _target(name, repository), action)


def authorize(request, *, name, repository, action):
    """Return the Principal if it may take ``action`` on repository ``name``
    (``repository`` is None when it does not exist), else raise the error a
    client acts on: a token challenge, or, for Basic credentials that cannot
    do it, DENIED when they can see the repository and NAME_UNKNOWN when not."""
    found = principal(request)
    if allowed(request, name=name, repository=repository, action=action):
        return found
    if found.has_credentials and found.access is None:
        if repository is not None and permissions.can(found.actor, repository, permissions.PULL):
            raise Denied()
        raise NameUnknown(detail={"name": name})
    scope = (
        f"repository:{name}:{action}"
        if action == permissions.PULL
        else f"repository:{name}:pull,{action}"
    )
    error = found.error or ("insufficient_scope" if found.has_credentials else "")
    raise Unauthorized(headers=challenge(request, scope, error))


def authorize_catalog(request):
    found = principal(request)
    if found.access is None and permissions.is_limited_token(found.actor):
        raise Denied("a build's token can only push and pull its repository")
    if found.catalog or (found.has_credentials and found.access is None):
        return found
    raise Unauthorized(headers=challenge(request, "registry:catalog:*", found.error))
