"""Docker's registry token authentication: the signing key, and the JWTs
the token endpoint issues and the registry verifies.

Tokens carry Docker's ``access`` claim: a list of
``{"type": "repository", "name": ..., "actions": [...]}`` entries.
"""

import base64
import functools
import hashlib
import os
import secrets
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

ALGORITHM = "ES256"


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class SigningKey:
    private_key: object
    public_key: object
    kid: str


def _libtrust_kid(public_key):
    """The key id Docker's libtrust derives: SHA-256 of the DER public key,
    truncated to 240 bits, base32, in 12 groups of 4."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, 48, 4))


def _load_or_create_pem(path):
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return pem


@functools.cache
def signing_key():
    """The configured key (``HUB_TOKEN_KEY``, PEM), or one generated into
    the data directory on first use."""
    pem = settings.HUB_TOKEN_KEY.encode() or _load_or_create_pem(settings.HUB_TOKEN_KEY_FILE)
    private_key = serialization.load_pem_private_key(pem, password=None)
    public_key = private_key.public_key()
    return SigningKey(private_key, public_key, _libtrust_kid(public_key))


# The claim naming the access token a registry token was issued for, so that
# the registry can judge the same caller (its scope, its one repository) on the
# paths that ask more than the ``access`` claim answers: mounts, the catalog,
# /v1/search.
ACCESS_TOKEN_CLAIM = "hub_access_token"


def issue(*, subject, access, audience, access_token_id=None):
    """A signed registry token for ``subject`` (a username, or "" for an
    anonymous caller) granting ``access``, issued to the caller holding the
    access token ``access_token_id`` if any. Returns ``(token, claims)``."""
    key = signing_key()
    now = int(time.time())
    claims = {
        "iss": settings.HUB_TOKEN_ISSUER,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now - 10,
        "exp": now + settings.HUB_TOKEN_LIFETIME,
        "jti": secrets.token_urlsafe(16),
        "access": access,
    }
    if access_token_id is not None:
        claims[ACCESS_TOKEN_CLAIM] = access_token_id
    token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, claims


@functools.lru_cache(maxsize=4096)
def _verified_claims(token):
    key = signing_key()
    try:
        return jwt.decode(
            token,
            key.public_key,
            algorithms=[ALGORITHM],
            audience=settings.HUB_REGISTRY_SERVICE,
            issuer=settings.HUB_TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub", "access"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None


def verify(token):
    """The claims of a valid, unexpired token. Each token's signature is
    checked once per process; later requests pay only for the expiry check."""
    claims = _verified_claims(token)
    if claims["exp"] <= time.time():
        raise InvalidToken("token has expired")
    return claims
