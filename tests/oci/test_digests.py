import hashlib

import pytest

from repositories.oci import digests

HEX256 = hashlib.sha256(b"x").hexdigest()
HEX512 = hashlib.sha512(b"x").hexdigest()


@pytest.mark.parametrize(
    "digest, expected",
    [(f"sha256:{HEX256}", ("sha256", HEX256)), (f"sha512:{HEX512}", ("sha512", HEX512))],
)
def test_parse_valid(digest, expected):
    assert digests.parse(digest) == expected


@pytest.mark.parametrize(
    "digest",
    [
        None,
        "",
        HEX256,
        "sha256",
        "sha256:",
        f":{HEX256}",
        f"sha256:{HEX256[:-1]}",
        f"sha256:{HEX256}0",
        f"sha256:{HEX256.upper()}",
        "sha256:" + "g" * 64,
        f"sha512:{HEX256}",
        f"sha256:{HEX512}",
        f"SHA256:{HEX256}",
        pytest.param(f"sha256:{HEX256}\n", id="trailing-newline"),
        pytest.param(f" sha256:{HEX256}", id="leading-space"),
    ],
)
def test_parse_invalid(digest):
    with pytest.raises(digests.InvalidDigest):
        digests.parse(digest)


@pytest.mark.parametrize("digest", ["md5:" + "a" * 32, "sha384:" + "a" * 96, "b3+x:" + "a" * 64])
def test_parse_unsupported_algorithm(digest):
    with pytest.raises(digests.UnsupportedDigest):
        digests.parse(digest)


def test_unsupported_is_invalid():
    assert issubclass(digests.UnsupportedDigest, digests.InvalidDigest)


def test_of():
    assert digests.of(b"x") == f"sha256:{HEX256}"
    assert digests.of(b"x", "sha512") == f"sha512:{HEX512}"
    assert (
        digests.of(b"{}")
        == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )


def test_hasher_matches_of():
    hasher = digests.hasher("sha512")
    hasher.update(b"x")
    assert f"{hasher.name}:{hasher.hexdigest()}" == digests.of(b"x", "sha512")


@pytest.mark.parametrize("reference, expected", [("latest", False), (f"sha256:{HEX256}", True)])
def test_is_digest(reference, expected):
    assert digests.is_digest(reference) is expected
