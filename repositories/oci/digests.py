"""Content digests (``algorithm:hex``)."""

import hashlib
import re

ALGORITHMS = {"sha256": 64, "sha512": 128}
DEFAULT_ALGORITHM = "sha256"
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)\Z")


class InvalidDigest(ValueError):
    pass


class UnsupportedDigest(InvalidDigest):
    """A well-formed digest with an algorithm this registry does not compute."""


def parse(digest):
    """Return ``(algorithm, hex)`` for a digest string, or raise InvalidDigest."""
    match = _DIGEST_RE.match(digest or "")
    if not match:
        raise InvalidDigest(f"invalid digest {digest!r}")
    algorithm, encoded = match.groups()
    if algorithm not in ALGORITHMS:
        raise UnsupportedDigest(f"unsupported digest algorithm {algorithm!r}")
    if len(encoded) != ALGORITHMS[algorithm] or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidDigest(f"invalid {algorithm} digest {digest!r}")
    return algorithm, encoded


def is_digest(reference):
    return ":" in reference


def hasher(algorithm=DEFAULT_ALGORITHM):
    return hashlib.new(algorithm)


def of(data, algorithm=DEFAULT_ALGORITHM):
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
