"""skopeo against the registry: single images (Docker schema2 and OCI) and a multi-arch index."""

from __future__ import annotations

import json

import pytest

from .helpers import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    REFUSED,
    Tool,
    assert_refused,
    head_manifest,
    layout_blob,
    layout_json,
    layout_ref,
    require_bins,
    run,
    sha256_bytes,
    sha256_file,
    skopeo_push,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def skopeo():
    return require_bins("skopeo")["skopeo"]


def inspect(skopeo, ref, *flags, raw=False, global_flags=()):
    args = [skopeo, *global_flags, "inspect", "--retry-times", "0", "--tls-verify=false", *flags]
    if raw:
        args.append("--raw")
    out = run([*args, f"docker://{ref}"]).stdout
    return out if raw else json.loads(out)


@pytest.mark.parametrize(
    "fmt,media_type",
    [("v2s2", DOCKER_MANIFEST), ("oci", OCI_MANIFEST)],
)
def test_skopeo_push_inspect_pull_roundtrip(
    registry, base_images, skopeo, tmp_path, fmt, media_type
):
    base = base_images.amd64
    repo = f"{registry.ns}/skopeo"
    pushed = skopeo_push(registry, base_images.oci("base"), repo, fmt, tmp_path, "--format", fmt)

    # The registry serves the manifest under the digest skopeo computed, with its media type.
    head = head_manifest(registry.url, repo, fmt)
    assert head.status_code == 200, head.text
    assert head.headers.get("Docker-Content-Digest") == pushed.digest
    assert head.headers.get("Content-Type", "").split(";")[0] == media_type

    raw = inspect(skopeo, registry.ref(repo, fmt), raw=True)
    assert sha256_bytes(raw) == pushed.digest
    manifest = json.loads(raw)
    # umoci writes OCI manifests without the optional "mediaType" field; the
    # registry must then go by the Content-Type of the PUT.
    assert manifest.get("mediaType", OCI_MANIFEST) == media_type
    assert [layer["digest"] for layer in manifest["layers"]] == base.layer_digests
    if fmt == "oci":
        # No conversion: the manifest bytes are the ones in the OCI layout.
        assert raw == base.manifest_bytes
        assert pushed.digest == base.manifest_digest

    info = inspect(skopeo, registry.ref(repo, fmt))
    assert info["Digest"] == pushed.digest
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["Layers"] == base.layer_digests

    by_digest = inspect(skopeo, registry.ref(repo, digest=pushed.digest))
    assert by_digest["Digest"] == pushed.digest

    config = json.loads(inspect(skopeo, registry.ref(repo, fmt), "--config", raw=True))
    assert config["rootfs"]["diff_ids"] == base.config["rootfs"]["diff_ids"]
    assert config["config"]["Cmd"] == ["/bin/sh"]

    tags = json.loads(
        run([skopeo, "list-tags", "--tls-verify=false", f"docker://{registry.addr}/{repo}"]).stdout
    )
    assert fmt in tags["Tags"]

    # Pull back into a dir: destination; blobs must be byte-identical.
    out = tmp_path / "dir"
    run(
        [
            skopeo,
            "copy",
            "--retry-times",
            "0",
            "--src-tls-verify=false",
            f"docker://{registry.ref(repo, fmt)}",
            f"dir:{out}",
        ]
    )
    assert sha256_file(out / "manifest.json") == pushed.digest
    for digest in base.layer_digests:
        pulled = out / digest.split(":", 1)[1]
        assert pulled.read_bytes() == layout_blob(base_images.layout, digest).read_bytes()
        assert sha256_file(pulled) == digest
    pulled_cfg = out / manifest["config"]["digest"].split(":", 1)[1]
    assert sha256_file(pulled_cfg) == manifest["config"]["digest"]
    assert json.loads(pulled_cfg.read_bytes())["rootfs"] == base.config["rootfs"]

    # And into an OCI layout.
    oci_out = tmp_path / "oci"
    run(
        [
            skopeo,
            "copy",
            "--retry-times",
            "0",
            "--src-tls-verify=false",
            "--format",
            "oci",
            f"docker://{registry.ref(repo, fmt)}",
            f"oci:{oci_out}:pulled",
        ]
    )
    desc = layout_ref(oci_out, "pulled")
    pulled_manifest = layout_json(oci_out, desc["digest"])
    assert [layer["digest"] for layer in pulled_manifest["layers"]] == base.layer_digests
    for digest in base.layer_digests:
        assert (
            layout_blob(oci_out, digest).read_bytes()
            == layout_blob(base_images.layout, digest).read_bytes()
        )


def test_skopeo_multiarch_index(registry, base_images, pushed_multi, skopeo, tmp_path):
    ref = pushed_multi.ref(registry)
    amd64, arm64 = base_images.amd64, base_images.arm64

    # The index is stored and served verbatim.
    assert pushed_multi.digest == base_images.index_digest
    raw = inspect(skopeo, ref, raw=True)
    assert raw == base_images.index_bytes
    index = json.loads(raw)
    assert index["mediaType"] == OCI_INDEX
    platforms = {
        (m["platform"]["os"], m["platform"]["architecture"]): m["digest"]
        for m in index["manifests"]
    }
    assert platforms == {
        ("linux", "amd64"): amd64.manifest_digest,
        ("linux", "arm64"): arm64.manifest_digest,
    }

    head = head_manifest(registry.url, pushed_multi.repo, pushed_multi.tag)
    assert head.status_code == 200
    assert head.headers.get("Docker-Content-Digest") == base_images.index_digest
    assert head.headers.get("Content-Type", "").split(";")[0] == OCI_INDEX

    # Child manifests are reachable by digest.
    for img in (amd64, arm64):
        child = inspect(
            skopeo, registry.ref(pushed_multi.repo, digest=img.manifest_digest), raw=True
        )
        assert child == img.manifest_bytes

    # Platform resolution.
    for arch, img in (("arm64", arm64), ("amd64", amd64)):
        info = inspect(
            skopeo, ref, global_flags=("--override-arch", arch, "--override-os", "linux")
        )
        assert info["Architecture"] == arch
        assert info["Layers"] == img.layer_digests
        out = tmp_path / f"single-{arch}"
        run(
            [
                skopeo,
                "--override-arch",
                arch,
                "--override-os",
                "linux",
                "copy",
                "--retry-times",
                "0",
                "--src-tls-verify=false",
                f"docker://{ref}",
                f"dir:{out}",
            ]
        )
        assert sha256_file(out / "manifest.json") == img.manifest_digest
        assert (
            json.loads((out / img.config_digest.split(":", 1)[1]).read_bytes())["architecture"]
            == arch
        )

    # Pull everything back.
    out = tmp_path / "all"
    run(
        [
            skopeo,
            "copy",
            "--all",
            "--retry-times",
            "0",
            "--src-tls-verify=false",
            f"docker://{ref}",
            f"oci:{out}:multi",
        ]
    )
    desc = layout_ref(out, "multi")
    assert desc["digest"] == base_images.index_digest
    assert layout_blob(out, desc["digest"]).read_bytes() == base_images.index_bytes
    for img in (amd64, arm64):
        assert layout_blob(out, img.manifest_digest).read_bytes() == img.manifest_bytes
        assert (
            layout_blob(out, img.config_digest).read_bytes()
            == layout_blob(base_images.layout, img.config_digest).read_bytes()
        )
        for digest in img.layer_digests:
            assert (
                layout_blob(out, digest).read_bytes()
                == layout_blob(base_images.layout, digest).read_bytes()
            )


def test_one_component_name_means_library(registry, base_images, skopeo, tmp_path):
    if registry.target == "reference":
        pytest.skip(
            "the reference registry does not map `name` to `library/name` (Hub-only behaviour)"
        )
    # Only staff may create the `library` namespace.
    admin = "admin" if "admin" in registry.users else None
    pushed = skopeo_push(
        registry,
        base_images.oci("base"),
        "e2e-busybox",
        "latest",
        tmp_path,
        "--format",
        "v2s2",
        user=admin,
    )
    via_library = inspect(skopeo, registry.ref("library/e2e-busybox", "latest"))
    assert via_library["Digest"] == pushed.digest
    short = inspect(skopeo, registry.ref("e2e-busybox", "latest"))
    assert short["Digest"] == pushed.digest
    tags = json.loads(
        run(
            [
                skopeo,
                "list-tags",
                "--tls-verify=false",
                f"docker://{registry.addr}/library/e2e-busybox",
            ]
        ).stdout
    )
    assert "latest" in tags["Tags"]


def test_skopeo_login_authfile_logout(registry, base_images, skopeo, requires_user, tmp_path):
    authfile = tmp_path / "auth.json"
    tool = Tool([skopeo], {})
    password = registry.users[requires_user]
    login = tool.login(
        registry, requires_user, password, "--tls-verify=false", "--authfile", authfile
    )
    assert "Login Succeeded" in login.stdout.decode()
    assert registry.addr in json.loads(authfile.read_text())["auths"]

    repo = f"{registry.ns}/skopeo-login"
    copy = [skopeo, "copy", "--retry-times", "0", "--dest-tls-verify=false", "--authfile", authfile]
    run([*copy, base_images.oci("base"), f"docker://{registry.ref(repo, '1')}"])
    info = inspect(skopeo, registry.ref(repo, "1"), "--authfile", authfile)
    assert info["Digest"] == base_images.amd64.manifest_digest

    tool("logout", "--authfile", authfile, registry.addr)
    assert registry.addr not in json.loads(authfile.read_text())["auths"]
    anonymous = run(
        [*copy, base_images.oci("base"), f"docker://{registry.ref(repo, '2')}"], check=False
    )
    assert_refused(anonymous, REFUSED)
