"""buildah: build FROM an image in the registry, push the result back; log in and out."""

from __future__ import annotations

import json

import pytest

from .helpers import (
    layout_blob,
    layout_json,
    layout_ref,
    login_push_pull_logout,
    require_bins,
    run,
    sha256_file,
    tar_members,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("fmt", ["oci", "docker"])
def test_buildah_bud_from_registry_and_push(
    registry, base_images, pushed_base, buildah, tmp_path, fmt
):
    skopeo = require_bins("skopeo")["skopeo"]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {pushed_base.ref(registry)}\n"
        "RUN echo hello > /hello.txt && cat /etc/e2e-release >> /hello.txt\n"
        'CMD ["/bin/cat", "/hello.txt"]\n'
    )
    target = registry.ref(f"{registry.ns}/buildah", fmt)
    buildah(
        "bud",
        "--isolation",
        "chroot",
        "--tls-verify=false",
        "--pull-always",
        "--format",
        fmt,
        "--layers=false",
        "-t",
        target,
        "-f",
        ctx / "Dockerfile",
        ctx,
    )
    digestfile = tmp_path / "digest"
    buildah(
        "push",
        "--tls-verify=false",
        *registry.creds_args("--creds"),
        "--digestfile",
        digestfile,
        target,
        f"docker://{target}",
    )
    digest = digestfile.read_text().strip()

    info = json.loads(run([skopeo, "inspect", "--tls-verify=false", f"docker://{target}"]).stdout)
    assert info["Digest"] == digest
    base = base_images.amd64
    assert len(info["Layers"]) == len(base.layer_digests) + 1

    config = json.loads(
        run(
            [skopeo, "inspect", "--tls-verify=false", "--config", "--raw", f"docker://{target}"]
        ).stdout
    )
    diff_ids = config["rootfs"]["diff_ids"]
    assert diff_ids[: len(base.layer_digests)] == base.config["rootfs"]["diff_ids"]
    assert len(diff_ids) == len(base.layer_digests) + 1
    assert config["config"]["Cmd"] == ["/bin/cat", "/hello.txt"]

    # The new layer holds the file written by RUN.
    out = tmp_path / "pulled"
    run([skopeo, "copy", "--src-tls-verify=false", f"docker://{target}", f"oci:{out}:x"])
    manifest = layout_json(out, layout_ref(out, "x")["digest"])
    layers = [layer["digest"] for layer in manifest["layers"]]
    top = tar_members(layout_blob(out, layers[-1]).read_bytes())
    assert top.get("hello.txt") == b"hello\nhub e2e busybox base\n"
    assert sha256_file(layout_blob(out, layers[-1])) == layers[-1]


def test_buildah_login_push_pull_logout(registry, base_images, buildah, requires_user):
    repo = f"{registry.ns}/buildah-login"
    digest = login_push_pull_logout(buildah, registry, base_images.oci("base"), repo)
    target = registry.ref(repo, "1")
    pulled = buildah("inspect", "--type", "image", "--format", "{{.FromImageDigest}}", target)
    assert pulled.stdout.decode().strip() == digest
