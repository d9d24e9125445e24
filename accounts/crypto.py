"""Encryption of secrets Hub must read back later (provider tokens), as
opposed to secrets it only verifies, which are hashed."""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(ValueError):
    """The value was not encrypted with any of the configured keys."""


def derived_key():
    """The Fernet key Hub uses when HUB_ENCRYPTION_KEY is unset: SECRET_KEY
    stretched with HKDF, under a label of its own so it is no other key."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"hub:encryption-key")
    return base64.urlsafe_b64encode(hkdf.derive(settings.SECRET_KEY.encode()))


def fernet():
    """Read on every call, so tests and key changes need no restart."""
    keys = [key.strip() for key in settings.HUB_ENCRYPTION_KEY.split(",") if key.strip()]
    try:
        fernets = [Fernet(key) for key in keys]
    except ValueError as error:
        raise ImproperlyConfigured(
            "HUB_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64-encoded bytes), "
            "separated by commas."
        ) from error
    # Values encrypted before a key was configured stay readable.
    fernets.append(Fernet(derived_key()))
    return MultiFernet(fernets)


def encrypt(plaintext):
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext):
    try:
        return fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as error:
        raise DecryptionError(
            "Cannot decrypt the value: it was encrypted with a key that is no longer "
            "configured (HUB_ENCRYPTION_KEY or SECRET_KEY changed), or not encrypted at all."
        ) from error
