"""Docker engine (Debian's dockerd, started privately) against the registry.

The dockerd fixture logs its CLI in as the pushing user; dockerd pushes and
pulls with the credentials the CLI keeps in its DOCKER_CONFIG."""

from __future__ import annotations

import json
import re

import pytest
import requests

from .helpers import REFUSED, assert_refused, docker_without_daemon, head_manifest

pytestmark = pytest.mark.e2e


def image_exists(docker, ref) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


def test_docker_import_push_rmi_pull_run(registry, base_images, dockerd):
    docker = dockerd
    local = "hub-e2e-local/imported:1"
    repo = f"{registry.ns}/docker"
    remote = registry.ref(repo, "1")
    docker("import", "--change", 'CMD ["/bin/sh"]', base_images.rootfs_tar, local)
    docker("tag", local, remote)
    image_id = json.loads(docker("image", "inspect", remote).stdout)[0]["Id"]

    push = docker("push", remote).stdout.decode()
    m = re.search(r"1: digest: (sha256:[0-9a-f]{64}) size: (\d+)", push)
    assert m, push
    digest = m.group(1)
    head = head_manifest(registry.url, repo, "1")
    assert head.status_code == 200
    assert head.headers.get("Docker-Content-Digest") == digest
    assert int(head.headers.get("Content-Length", -1)) == int(m.group(2))

    docker("rmi", remote, local)
    assert not image_exists(docker, remote)
    assert not image_exists(docker, image_id)

    pull = docker("pull", remote).stdout.decode()
    assert f"Digest: {digest}" in pull, pull
    info = json.loads(docker("image", "inspect", remote).stdout)[0]
    assert info["Id"] == image_id  # same config, byte for byte
    assert f"{registry.addr}/{repo}@{digest}" in info["RepoDigests"]

    out = docker("run", "--rm", "--network", "none", remote, "echo", "hi")
    assert out.stdout.decode() == "hi\n"

    # A second push of unchanged content is a no-op upload with the same digest.
    again = docker("push", remote).stdout.decode()
    assert f"digest: {digest}" in again
    assert "Layer already exists" in again, again


@pytest.mark.parametrize("which", ["schema2", "oci-index"])
def test_docker_pull_and_run_skopeo_pushed(
    registry, base_images, pushed_base, pushed_multi, dockerd, which
):
    docker = dockerd
    pushed = pushed_base if which == "schema2" else pushed_multi
    ref = pushed.ref(registry)
    pull = docker("pull", ref).stdout.decode()
    assert f"Digest: {pushed.digest}" in pull, pull
    info = json.loads(docker("image", "inspect", ref).stdout)[0]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert f"{registry.addr}/{pushed.repo}@{pushed.digest}" in info["RepoDigests"]
    # The image id is the digest of the amd64 config.
    assert info["Id"] == base_images.amd64.config_digest

    out = docker("run", "--rm", "--network", "none", ref, "cat", "/etc/e2e-release")
    assert out.stdout.decode() == "hub e2e busybox base\n"
    docker("rmi", ref)


def test_docker_login_push_pull_logout(registry, base_images, dockerd, requires_user, tmp_path):
    """`docker login` needs no daemon: the CLI checks the credentials itself and
    keeps them in DOCKER_CONFIG, whence it hands them to dockerd for a push."""
    config = tmp_path / "docker-config"
    cli = docker_without_daemon(config)
    out = cli.login(registry, requires_user, registry.users[requires_user]).stdout.decode()
    assert "Login Succeeded" in out
    assert registry.addr in json.loads((config / "config.json").read_text())["auths"]

    docker = dockerd.with_env(DOCKER_CONFIG=str(config))
    repo = f"{registry.ns}/docker-login"
    remote = registry.ref(repo, "1")
    docker("import", base_images.rootfs_tar, remote)
    push = docker("push", remote).stdout.decode()
    digest = re.search(r"1: digest: (sha256:[0-9a-f]{64})", push).group(1)
    docker("rmi", remote)
    assert f"Digest: {digest}" in docker("pull", remote).stdout.decode()

    assert "Removing login credentials" in cli("logout", registry.addr).stdout.decode()
    assert registry.addr not in json.loads((config / "config.json").read_text())["auths"]
    docker("tag", remote, registry.ref(repo, "2"))
    anonymous = docker("push", registry.ref(repo, "2"), check=False)
    assert_refused(anonymous, REFUSED)
    docker("rmi", remote, registry.ref(repo, "2"))


def test_docker_search_prints_hubs_table(registry, base_images, dockerd):
    """`docker search HOST/TERM` goes through dockerd to /v1/search and prints
    the repositories the logged-in user may see, with their descriptions."""
    if registry.target != "hub":
        pytest.skip("the reference registry has no search")
    docker = dockerd
    repo = f"{registry.ns}/searchable-widget"
    docker("import", base_images.rootfs_tar, registry.ref(repo, "1"))
    docker("push", registry.ref(repo, "1"))
    described = requests.patch(
        f"{registry.url}/api/v1/repositories/{repo}/",
        json={"description": "A widget that e2e searches for"},
        auth=tuple(registry.creds().split(":", 1)),
        timeout=30,
    )
    assert described.status_code == 200, described.text

    table = docker("search", f"{registry.addr}/widget").stdout.decode()

    header, *rows = table.strip().splitlines()
    assert header.split()[:2] == ["NAME", "DESCRIPTION"], table
    assert any(
        row.split()[0] == repo and "A widget that e2e searches for" in row for row in rows
    ), table
