"""podman: log in, push, pull, inspect and run, then log out.

podman runs in this container with its own storage (vfs) under a temporary
--root/--runroot, `--cgroup-manager cgroupfs` and `--events-backend file`
(there is no systemd or journald here). `podman run` also needs explicit
RLIMIT_NOFILE and RLIMIT_NPROC: by default it gives the container limits
above this container's hard limits, and runc fails with "error setting rlimit
type 7 (then 6): operation not permitted".
"""

from __future__ import annotations

import pytest

from .helpers import login_push_pull_logout

pytestmark = pytest.mark.e2e


def test_podman_login_push_pull_logout(registry, base_images, podman, requires_user):
    repo = f"{registry.ns}/podman-login"
    digest = login_push_pull_logout(podman, registry, base_images.oci("base"), repo)
    target = registry.ref(repo, "1")
    inspect = podman("image", "inspect", "--format", "{{.Digest}}", target)
    assert inspect.stdout.decode().strip() == digest
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    run = podman("run", "--rm", "--network", "none", *limits, target, "cat", "/etc/e2e-release")
    assert run.stdout.decode() == "hub e2e busybox base\n"
