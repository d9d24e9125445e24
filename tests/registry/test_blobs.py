"""GET, HEAD and DELETE /v2/<name>/blobs/<digest>, monolithic pushes and mounts."""

import pytest

from .helpers import SHA256_OF_NOTHING, error_codes, sha256, sha512

NAME = "alice/app"
DATA = b"0123456789"


def test_monolithic_post_stores_the_blob(registry):
    digest = sha256(DATA)

    response = registry.post(f"/v2/{NAME}/blobs/uploads/?digest={digest}", DATA)

    assert response.status_code == 201
    assert response["Location"] == f"/v2/{NAME}/blobs/{digest}"
    assert response["Docker-Content-Digest"] == digest
    assert registry.get(response["Location"]).getvalue() == DATA


@pytest.fixture(params=["sendfile", "stream"])
def delivery(request, settings):
    """The ways Hub sends blob bytes itself."""
    settings.HUB_BLOB_DELIVERY = request.param


def test_get_blob_answers_bytes_length_and_digest(registry, delivery):
    digest = registry.push_blob(NAME, DATA)

    response = registry.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert response.getvalue() == DATA
    assert response["Content-Length"] == str(len(DATA))
    assert response["Docker-Content-Digest"] == digest


def test_head_blob_answers_length_and_digest(registry):
    digest = registry.push_blob(NAME, DATA)

    response = registry.head(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert response["Content-Length"] == str(len(DATA))
    assert response["Docker-Content-Digest"] == digest


def test_head_blob_sends_no_body(registry):
    # Anonymous reads need a public repository with a manifest, not just a push begun.
    registry.push_image(NAME, "latest", layers=(DATA,))
    digest = sha256(DATA)

    response = registry.view_response("HEAD", f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Length"] == str(len(DATA))


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unknown_blob_is_404_blob_unknown(registry, method):
    registry.push_blob(NAME, DATA)

    response = registry.request(method, f"/v2/{NAME}/blobs/{sha256(b'other')}")

    assert response.status_code == 404
    if method == "GET":
        assert error_codes(response) == ["BLOB_UNKNOWN"]


@pytest.mark.parametrize(
    "digest",
    [
        "notadigest",
        "sha256:abc",
        "sha256:" + "A" * 64,
        "sha256:" + "g" * 64,
        "sha512:" + "a" * 64,
        "md5:" + "a" * 32,
    ],
)
def test_invalid_digest_is_400_digest_invalid(registry, digest):
    registry.push_blob(NAME, DATA)

    for response in (
        registry.get(f"/v2/{NAME}/blobs/{digest}"),
        registry.post(f"/v2/{NAME}/blobs/uploads/?digest={digest}", DATA),
    ):
        assert response.status_code == 400
        assert error_codes(response) == ["DIGEST_INVALID"]


def test_wrong_digest_is_refused_and_nothing_is_stored(registry):
    claimed = sha256(b"something else")

    response = registry.post(f"/v2/{NAME}/blobs/uploads/?digest={claimed}", DATA)

    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    assert registry.head(f"/v2/{NAME}/blobs/{claimed}").status_code == 404
    assert registry.head(f"/v2/{NAME}/blobs/{sha256(DATA)}").status_code == 404


def test_sha512_blob(registry):
    digest = sha512(DATA)

    response = registry.post(f"/v2/{NAME}/blobs/uploads/?digest={digest}", DATA)

    assert response.status_code == 201
    assert response["Docker-Content-Digest"] == digest
    fetched = registry.get(f"/v2/{NAME}/blobs/{digest}")
    assert fetched.getvalue() == DATA
    assert fetched["Docker-Content-Digest"] == digest


def test_zero_length_blob(registry, delivery):
    digest = registry.push_blob(NAME, b"")

    assert digest == SHA256_OF_NOTHING
    response = registry.get(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 200
    assert response.getvalue() == b""
    assert response["Content-Length"] == "0"
    assert registry.head(f"/v2/{NAME}/blobs/{digest}")["Content-Length"] == "0"


@pytest.mark.parametrize(
    "requested, body, content_range",
    [
        ("bytes=2-5", b"2345", "bytes 2-5/10"),
        ("bytes=0-0", b"0", "bytes 0-0/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=-30", DATA, "bytes 0-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
    ],
)
def test_range_request_is_206_partial_content(registry, delivery, requested, body, content_range):
    digest = registry.push_blob(NAME, DATA)

    response = registry.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": requested})

    assert response.status_code == 206
    assert response.getvalue() == body
    assert response["Content-Range"] == content_range
    assert response["Content-Length"] == str(len(body))
    assert response["Docker-Content-Digest"] == digest


@pytest.mark.parametrize("requested", ["bytes=10-", "bytes=20-30", "bytes=5-2", "bytes=-0"])
def test_unsatisfiable_range_is_416(registry, requested):
    digest = registry.push_blob(NAME, DATA)

    response = registry.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": requested})

    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */10"


def test_blob_sent_by_nginx(registry, settings):
    settings.HUB_BLOB_DELIVERY = "x-accel"
    settings.HUB_X_ACCEL_PREFIX = "/_blobs/"
    digest = registry.push_blob(NAME, DATA)
    hex_digest = digest.split(":")[1]

    response = registry.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/_blobs/sha256/{hex_digest[:2]}/{hex_digest}"
    assert response["Docker-Content-Digest"] == digest
    assert response.content == b""


def test_delete_blob_is_202_then_404(registry):
    # Deleting needs a repository that has a manifest, not just a push begun.
    registry.push_image(NAME, "latest", layers=(DATA,))
    digest = sha256(DATA)

    response = registry.delete(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 202
    gone = registry.get(f"/v2/{NAME}/blobs/{digest}")
    assert gone.status_code == 404
    assert error_codes(gone) == ["BLOB_UNKNOWN"]
    again = registry.delete(f"/v2/{NAME}/blobs/{digest}")
    assert again.status_code == 404
    assert error_codes(again) == ["BLOB_UNKNOWN"]


def test_delete_blob_leaves_other_repositories_alone(registry):
    digest = registry.push_blob(NAME, DATA)
    registry.push_blob("bob/app", DATA)

    registry.delete(f"/v2/{NAME}/blobs/{digest}")

    assert registry.get(f"/v2/bob/app/blobs/{digest}").getvalue() == DATA


def test_blob_in_unknown_repository_is_404(registry):
    digest = registry.push_blob(NAME, DATA)

    response = registry.get(f"/v2/nobody/here/blobs/{digest}")

    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]


# Isolation and mounts ------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_blob_of_another_repository_is_not_served_by_digest(registry, method):
    digest = registry.push_blob("alice/secret", DATA)
    registry.push_blob("mallory/probe", b"anything")

    response = registry.request(method, f"/v2/mallory/probe/blobs/{digest}")

    assert response.status_code == 404


def test_mount_from_another_repository(registry):
    # A source must have a manifest: before that nobody may see it.
    registry.push_image("alice/base", "latest", layers=(DATA,))
    digest = sha256(DATA)

    response = registry.post(f"/v2/{NAME}/blobs/uploads/?mount={digest}&from=alice/base")

    assert response.status_code == 201
    assert response["Location"] == f"/v2/{NAME}/blobs/{digest}"
    assert response["Docker-Content-Digest"] == digest
    assert registry.get(f"/v2/{NAME}/blobs/{digest}").getvalue() == DATA


def test_mount_without_from(registry):
    registry.push_image("alice/base", "latest", layers=(DATA,))
    digest = sha256(DATA)

    response = registry.post(f"/v2/{NAME}/blobs/uploads/?mount={digest}")

    assert response.status_code == 201
    assert registry.get(f"/v2/{NAME}/blobs/{digest}").getvalue() == DATA


def test_mount_of_unknown_blob_starts_an_upload(registry):
    digest = sha256(b"never pushed")

    response = registry.post(f"/v2/{NAME}/blobs/uploads/?mount={digest}&from=alice/base")

    assert response.status_code == 202
    assert response["Location"].startswith(f"/v2/{NAME}/blobs/uploads/")
    assert registry.get(response["Location"]).status_code == 204
    assert registry.head(f"/v2/{NAME}/blobs/{digest}").status_code == 404


def test_mount_from_a_repository_without_the_blob_starts_an_upload(registry):
    digest = registry.push_blob("alice/base", DATA)
    registry.push_blob("alice/other", b"other")

    response = registry.post(f"/v2/{NAME}/blobs/uploads/?mount={digest}&from=alice/other")

    assert response.status_code == 202
    assert registry.head(f"/v2/{NAME}/blobs/{digest}").status_code == 404


# Size limit -----------------------------------------------------------------


def test_blob_over_the_size_limit_is_413_size_invalid(registry, settings):
    settings.HUB_MAX_BLOB_SIZE = len(DATA) - 1

    response = registry.post(f"/v2/{NAME}/blobs/uploads/?digest={sha256(DATA)}", DATA)

    assert response.status_code == 413
    assert error_codes(response) == ["SIZE_INVALID"]
    assert registry.head(f"/v2/{NAME}/blobs/{sha256(DATA)}").status_code == 404


def test_blob_at_the_size_limit_is_accepted(registry, settings):
    settings.HUB_MAX_BLOB_SIZE = len(DATA)

    assert registry.push_blob(NAME, DATA) == sha256(DATA)
