"""A namespace's storage quota against a real client: skopeo's push into a
namespace too small for the image fails with the quota's message, leaves no
tag, and goes through once staff lift the quota."""

from __future__ import annotations

import re

import pytest
import requests

from .helpers import assert_refused, require_bins, run, skopeo_push

pytestmark = pytest.mark.e2e

QUOTA_MESSAGE = re.compile(r"namespace tiny is over its storage quota: .* used of 1 KB allowed")


def set_quota(registry, namespace, size):
    """Set ``namespace``'s quota through the REST API, as staff."""
    response = requests.patch(
        f"{registry.url}/api/v1/users/{namespace}/storage/",
        json={"storage_quota_bytes": size},
        auth=("admin", registry.users["admin"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_skopeo_push_past_the_quota_is_refused(registry, base_images, tmp_path):
    if registry.target != "hub":
        pytest.skip("quotas are Hub's")
    skopeo = require_bins("skopeo")["skopeo"]
    registry.create_user("tiny")
    assert set_quota(registry, "tiny", 1024)["quota_bytes"] == 1024

    refused = run(
        [
            skopeo,
            "copy",
            "--retry-times",
            "0",
            "--dest-tls-verify=false",
            *registry.creds_args("--dest-creds", "tiny"),
            base_images.oci("base"),
            f"docker://{registry.ref('tiny/app', 'latest')}",
        ],
        check=False,
    )

    assert_refused(refused, QUOTA_MESSAGE)
    tags = requests.get(
        f"{registry.url}/v2/tiny/app/tags/list", auth=("tiny", registry.users["tiny"]), timeout=30
    )
    assert tags.status_code == 404 or tags.json().get("tags") in (None, [])
    assert set_quota(registry, "tiny", None)["storage_bytes"] <= 1024

    set_quota(registry, "tiny", 0)  # no limit for this namespace
    pushed = skopeo_push(
        registry, base_images.oci("base"), "tiny/app", "latest", tmp_path, user="tiny"
    )
    usage = set_quota(registry, "tiny", 0)
    assert usage["quota_bytes"] is None
    assert usage["storage_bytes"] > 1024
    assert pushed.digest.startswith("sha256:")
