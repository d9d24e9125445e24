"""A real client against an immutable tag: skopeo may not push over it."""

from __future__ import annotations

import re

import pytest
import requests

from .helpers import assert_refused, require_bins, run, skopeo_push

pytestmark = pytest.mark.e2e


def test_skopeo_cannot_push_another_image_over_an_immutable_tag(
    registry, base_images, requires_user, tmp_path
):
    skopeo = require_bins("skopeo")["skopeo"]
    repo = f"{registry.ns}/immutable"
    pushed = skopeo_push(registry, base_images.oci("base"), repo, "v1.0.0", tmp_path)
    rule = requests.post(
        f"{registry.url}/api/v1/repositories/{repo}/immutable-tag-rules/",
        json={"pattern": r"/^v\d+\.\d+\.\d+$/"},
        auth=(requires_user, registry.users[requires_user]),
        timeout=30,
    )
    assert rule.status_code == 201, rule.text

    other = run(
        [
            skopeo, "copy", "--retry-times", "0", "--dest-tls-verify=false",
            *registry.creds_args("--dest-creds"),
            base_images.oci("base-arm64"), f"docker://{registry.ref(repo, 'v1.0.0')}",
        ],
        check=False,
    )  # fmt: skip

    # skopeo quotes its message, doubling the pattern's backslashes.
    assert_refused(
        other,
        re.compile(
            rf"denied: tag v1\.0\.0 is immutable in {re.escape(repo)} \(rule '/\^v.+\$/'\); "
            "push a new tag instead"
        ),
    )
    # The same image again is fine (clients retry), and the tag kept its image.
    again = skopeo_push(registry, base_images.oci("base"), repo, "v1.0.0", tmp_path)
    assert again.digest == pushed.digest
    # A new tag that matches is created as usual.
    skopeo_push(registry, base_images.oci("base-arm64"), repo, "v1.0.1", tmp_path)
