"""The registry against a real S3-compatible server, through /v2/ only.

Every test commits for real (transaction=True): upload parts are deleted in
``transaction.on_commit`` callbacks, which never run inside the rollback-only
transaction of an ordinary ``db`` test.
"""

import hashlib
import os
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("s3_storages")]

OCTET = "application/octet-stream"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_key(digest):
    algorithm, encoded = digest.split(":", 1)
    return f"{algorithm}/{encoded[:2]}/{encoded}"


def keys(s3_client, bucket, prefix=""):
    listing = s3_client.list_objects(Bucket=bucket, Prefix=prefix)
    return sorted(entry["Key"] for entry in listing.get("Contents", []))


def push_monolithic(client, name, data):
    digest = sha256(data)
    response = client.post(f"/v2/{name}/blobs/uploads/?digest={digest}", data, content_type=OCTET)
    assert response.status_code == 201, response.content
    assert response["Docker-Content-Digest"] == digest
    return digest


def start_upload(client, name):
    response = client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202, response.content
    return response["Location"], response["Docker-Upload-UUID"]


def patch_chunks(client, location, chunks):
    offset = 0
    for chunk in chunks:
        end = offset + len(chunk) - 1
        response = client.patch(
            location, chunk, content_type=OCTET, headers={"Content-Range": f"{offset}-{end}"}
        )
        assert response.status_code == 202, response.content
        assert response["Range"] == f"0-{end}"
        offset = end + 1


def split3(data):
    third = len(data) // 3
    return [data[:third], data[third : 2 * third], data[2 * third :]]


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_monolithic_upload_is_one_object_served_by_presigned_redirect(
    client, settings, s3_client, bucket
):
    settings.HUB_BLOB_DELIVERY = "redirect"
    data = os.urandom(1_500_000)
    digest = push_monolithic(client, "alice/app", data)

    assert keys(s3_client, bucket) == [blob_key(digest)]

    response = client.get(f"/v2/alice/app/blobs/{digest}")
    assert response.status_code == 307
    location = response["Location"]
    assert location.startswith(settings.STORAGES["blobs"]["OPTIONS"]["endpoint_url"])
    query = parse_qs(urlsplit(location).query)
    assert "X-Amz-Signature" in query or "Signature" in query

    fetched = requests.get(location, timeout=30)
    assert fetched.status_code == 200
    assert fetched.content == data

    ranged = requests.get(location, headers={"Range": "bytes=1000-1999"}, timeout=30)
    assert ranged.status_code == 206
    assert ranged.content == data[1000:2000]
    assert ranged.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"


# "sendfile" must fall back to streaming: an S3 object has no local path.
@pytest.mark.parametrize("delivery", ["stream", "sendfile"])
def test_streamed_delivery_serves_whole_blob_and_ranges(client, settings, delivery):
    settings.HUB_BLOB_DELIVERY = delivery
    data = os.urandom(1_500_000)
    digest = push_monolithic(client, "alice/app", data)
    url = f"/v2/alice/app/blobs/{digest}"

    whole = client.get(url)
    assert whole.status_code == 200
    assert whole["Content-Length"] == str(len(data))
    assert whole["Docker-Content-Digest"] == digest
    assert body(whole) == data

    # A range that crosses the 1 MiB read size of the streaming loop.
    start, end = 1_048_000, 1_049_999
    part = client.get(url, headers={"Range": f"bytes={start}-{end}"})
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    assert part["Content-Length"] == str(end - start + 1)
    assert body(part) == data[start : end + 1]

    suffix = client.get(url, headers={"Range": "bytes=-100"})
    assert suffix.status_code == 206
    assert body(suffix) == data[-100:]


def test_chunked_upload_keeps_parts_under_uploads_until_put(client, settings, s3_client, bucket):
    settings.HUB_BLOB_DELIVERY = "stream"
    data = os.urandom(2_500_000)
    digest = sha256(data)
    location, upload_id = start_upload(client, "alice/app")
    patch_chunks(client, location, split3(data))

    parts = keys(s3_client, bucket, f"uploads/{upload_id}/")
    assert len(parts) == 3
    assert keys(s3_client, bucket) == parts  # nothing outside the uploads location yet
    sizes = [s3_client.head_object(Bucket=bucket, Key=key)["ContentLength"] for key in parts]
    assert sizes == [len(chunk) for chunk in split3(data)]

    response = client.put(f"{location}?digest={digest}", b"", content_type=OCTET)
    assert response.status_code == 201, response.content
    assert response["Docker-Content-Digest"] == digest

    assert keys(s3_client, bucket) == [blob_key(digest)]
    fetched = client.get(f"/v2/alice/app/blobs/{digest}")
    assert fetched.status_code == 200
    assert body(fetched) == data


def test_chunked_upload_with_wrong_digest_leaves_no_blob(client, s3_client, bucket):
    data = os.urandom(300_000)
    wrong = sha256(b"something else")
    location, upload_id = start_upload(client, "alice/app")
    patch_chunks(client, location, split3(data))
    assert len(keys(s3_client, bucket, f"uploads/{upload_id}/")) == 3

    response = client.put(f"{location}?digest={wrong}", b"", content_type=OCTET)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "DIGEST_INVALID"

    assert keys(s3_client, bucket, "sha256/") == []
    assert keys(s3_client, bucket) == []  # the failed session's parts are gone too
    for digest in (wrong, sha256(data)):
        assert client.head(f"/v2/alice/app/blobs/{digest}").status_code == 404


def test_blob_pushed_to_two_repositories_is_stored_once(client, settings, s3_client, bucket):
    settings.HUB_BLOB_DELIVERY = "stream"
    data = os.urandom(200_000)
    digest = push_monolithic(client, "alice/one", data)
    first = s3_client.head_object(Bucket=bucket, Key=blob_key(digest))

    location, _ = start_upload(client, "bob/two")
    patch_chunks(client, location, split3(data))
    response = client.put(f"{location}?digest={digest}", b"", content_type=OCTET)
    assert response.status_code == 201, response.content

    assert keys(s3_client, bucket) == [blob_key(digest)]
    again = s3_client.head_object(Bucket=bucket, Key=blob_key(digest))
    assert again["ETag"] == first["ETag"]
    assert again["LastModified"] == first["LastModified"]
    for name in ("alice/one", "bob/two"):
        assert body(client.get(f"/v2/{name}/blobs/{digest}")) == data


def test_cancelled_upload_removes_its_parts(client, s3_client, bucket):
    data = os.urandom(90_000)
    location, upload_id = start_upload(client, "alice/app")
    patch_chunks(client, location, split3(data))
    assert len(keys(s3_client, bucket, f"uploads/{upload_id}/")) == 3

    assert client.delete(location).status_code == 204

    assert keys(s3_client, bucket) == []
    gone = client.get(location)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
