"""Checking the username and secret a registry client sends: a password or
an access token. Failures count towards django-axes' lockout."""

import base64
import binascii
import hashlib

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache

from . import services
from .models import AccessToken


class LockedOut(Exception):
    """Too many failed attempts from this client or for this user."""


class TokenNotAccepted(Exception):
    """A genuine token of a kind this surface does not take (a build's token
    outside the registry, a refresh token used as a password)."""


# The tokens each surface takes as a password. A build's token pushes and
# pulls through the registry and is nobody anywhere else; a registry client's
# refresh token (from `docker login`) serves the registry only.
PERSONAL_TOKENS = (AccessToken.Kind.PERSONAL,)
REGISTRY_TOKENS = tuple(AccessToken.Kind)
_NOT_ACCEPTED = {
    AccessToken.Kind.BUILD: "a build's token can only push and pull through the registry",
    AccessToken.Kind.REFRESH: "a registry login's refresh token works with the registry only",
}


def parse_basic(header):
    """``(username, secret)`` from an ``Authorization: Basic`` value, or None."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, secret = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, secret) if sep else None


def _remembered_key(username, secret):
    material = f"{settings.SECRET_KEY}\0{username}\0{secret}".encode()
    return "credentials:" + hashlib.sha256(material).hexdigest()


def check(request, username, secret, *, token_kinds=PERSONAL_TOKENS):
    """The actor these credentials stand for, a user or an access token (of
    one of ``token_kinds``), or None. Raises LockedOut when the lockout is in
    force, and TokenNotAccepted for a valid token of another kind.

    A password is hashed once; then, for a while, the same credentials are
    recognised by a keyed digest and the user's current password hash, so a
    client that sends Basic credentials on every request costs no hashing.
    """
    credentials = {"username": username}
    if not AxesProxyHandler.is_allowed(request, credentials):
        raise LockedOut
    kind = next(
        (kind for kind, prefix in services.TOKEN_PREFIXES.items() if secret.startswith(prefix)),
        None,
    )
    if kind is not None:
        token = services.access_token_authenticate(secret=secret, kind=kind)
        if token is not None and token.user.get_username().lower() == username.lower():
            if kind not in token_kinds:
                raise TokenNotAccepted(_NOT_ACCEPTED[kind])
            AxesProxyHandler.user_logged_in(sender=__name__, request=request, user=token.user)
            return token
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        return None

    key = _remembered_key(username, secret)
    remembered = cache.get(key)
    if remembered is not None:
        pk, password_hash = remembered
        user = get_user_model().objects.filter(pk=pk, is_active=True).first()
        if user is not None and user.password == password_hash:
            return user
    user = authenticate(request, username=username, password=secret)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise LockedOut
        return None
    AxesProxyHandler.user_logged_in(sender=__name__, request=request, user=user)
    cache.set(key, (user.pk, user.password), settings.HUB_CREDENTIALS_CACHE_SECONDS)
    return user
