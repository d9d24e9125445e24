"""Who is calling the REST API.

Three ways in, all ending in the same rules (permissions.can, visible_to):

- ``Authorization: Bearer hub_pat_…``: a personal access token;
- ``Authorization: Basic``: a username with a password or a personal access
  token, checked by accounts.credentials like the registry's (so failures
  count towards the lockout, and a locked-out caller gets 429);
- the browser's session, with CSRF enforced on unsafe methods.

A build's token and a registry refresh token are refused: they are for the
registry alone. With a token, ``request.user`` is its user and
``request.auth`` the token; every check and listing takes ``api_actor()``, so
the token's scope caps what the caller may do.
"""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from . import credentials, services
from .models import AccessToken

REALM = "api"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <personal access token>``."""

    keyword = "Bearer"

    def authenticate(self, request):
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        secret = secret.strip()
        token = None
        if secret.startswith(services.TOKEN_PREFIX):
            token = services.access_token_authenticate(secret=secret)
        if token is None:
            raise exceptions.AuthenticationFailed(
                "Invalid or expired access token; the API takes personal access tokens (hub_pat_…)."
            )
        return token.user, token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="{REALM}"'


class TooManyFailedLogins(exceptions.Throttled):
    default_detail = "Too many failed login attempts."


class BasicAuthentication(authentication.BaseAuthentication):
    """``Authorization: Basic``: a username and a password or access token."""

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if header.partition(" ")[0].lower() != "basic":
            return None
        basic = credentials.parse_basic(header)
        if basic is None:
            raise exceptions.AuthenticationFailed("Malformed Basic credentials.")
        try:
            # django-axes reads the Django request, not DRF's wrapper.
            actor = credentials.check(request._request, *basic)
        except credentials.LockedOut:
            raise TooManyFailedLogins(wait=settings.HUB_LOGIN_LOCKOUT_MINUTES * 60) from None
        except credentials.TokenNotAccepted as refused:
            raise exceptions.AuthenticationFailed(f"{str(refused).capitalize()}.") from None
        if actor is None:
            raise exceptions.AuthenticationFailed("Incorrect username, password or token.")
        if isinstance(actor, AccessToken):
            return actor.user, actor
        return actor, None

    def authenticate_header(self, request):
        return f'Basic realm="{REALM}"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The browser's login session; DRF enforces CSRF for unsafe methods."""


def api_actor(request):
    """What permissions.can() judges for this request: the access token the
    caller authenticated with, or else its user (maybe anonymous)."""
    if isinstance(request.auth, AccessToken):
        return request.auth
    return request.user


class TokenScopeAllowsMethod(BasePermission):
    """A read-only token cannot change anything through the API, not even a
    star; tokens that may write are judged further by permissions.can()
    (settings and deletion take a full-scope token)."""

    message = "This access token is read-only."

    def has_permission(self, request, view):
        token = request.auth
        if request.method in SAFE_METHODS or not isinstance(token, AccessToken):
            return True
        return token.scope != AccessToken.Scope.READ


# How the schema describes each way in ----------------------------------------


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "accessToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token (hub_pat_…); its scope caps what it may do.",
        }


class BasicScheme(OpenApiAuthenticationExtension):
    target_class = BasicAuthentication
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "A username with its password or one of its access tokens.",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = SessionAuthentication
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
