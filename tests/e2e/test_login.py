"""Logging in, and what credentials may do: wrong passwords, read-only access
tokens, other users' namespaces and private repositories.

Each client's own login, push, pull and logout is in its test_<client>.py.
Hub starts with `HUB_ADMIN_PASSWORD`; users and tokens come from its command
line (`manage.py create_user`, `create_access_token`), run beside it.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import time
import urllib.parse

import pytest
import requests

from .helpers import (
    REFUSED,
    Pushed,
    Tool,
    assert_refused,
    docker_without_daemon,
    require_bins,
    run,
    skopeo_push,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hub(registry):
    """The registry, if it is a Hub these tests can run manage.py against."""
    if registry.target != "hub":
        pytest.skip("needs Hub's command line to create users and tokens")
    return registry


@pytest.fixture(scope="module")
def bob(hub, base_images, tmp_path_factory) -> Pushed:
    """The user bob, whose namespace makes new repositories private, and the
    repository bob/secret he created by pushing :1 into it."""
    hub.create_user("bob")
    updated = hub.manage(
        "shell",
        "-c",
        "from accounts.models import Namespace;"
        "print(Namespace.objects.filter(name='bob').update(default_visibility='private'))",
    )
    assert updated.splitlines()[-1] == "1", updated
    tmp = tmp_path_factory.mktemp("bob")
    return skopeo_push(hub, base_images.oci("base"), "bob/secret", "1", tmp, user="bob")


def skopeo_copy(src: str, dest: str, *flags, check=True):
    skopeo = require_bins("skopeo")["skopeo"]
    tls = ["--src-tls-verify=false", "--dest-tls-verify=false"]
    return run([skopeo, "copy", "--retry-times", "0", *tls, *flags, src, dest], check=check)


def pull(ref: str, creds: str | None, dest, check=True):
    """Pull ref into the directory dest, with creds ("name:secret") or anonymously."""
    flags = ["--src-creds", creds] if creds else []
    return skopeo_copy(f"docker://{ref}", f"dir:{dest}", *flags, check=check)


def try_push(src: str, ref: str, creds: str):
    return skopeo_copy(src, f"docker://{ref}", "--dest-creds", creds, check=False)


def token_access(token: str) -> list[dict]:
    """The `access` claim of a registry token (a JWT)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["access"]


@pytest.mark.parametrize("client", ["docker", "skopeo", "buildah", "podman"])
def test_wrong_password_is_refused(
    registry, requires_user, client, request, tmp_path, forgive_failures
):
    if client == "docker":
        tool, flags = docker_without_daemon(tmp_path / "docker-config"), []
    elif client == "skopeo":
        tool = Tool([require_bins("skopeo")["skopeo"]], {})
        flags = ["--tls-verify=false", "--authfile", tmp_path / "auth.json"]
    else:
        tool, flags = request.getfixturevalue(client), ["--tls-verify=false"]
    assert_refused(tool.login(registry, requires_user, "not-the-password", *flags, check=False))


def test_read_only_token_pulls_but_cannot_push(hub, bob, base_images, tmp_path):
    token = hub.create_access_token("bob", "read")
    creds = f"bob:{token}"
    pull(bob.ref(hub), creds, tmp_path / "pulled")
    assert (tmp_path / "pulled" / "manifest.json").exists()
    assert_refused(try_push(base_images.oci("base"), hub.ref("bob/read-only", "1"), creds), REFUSED)

    # The token service grants such a token pull and nothing more.
    r = requests.get(
        f"{hub.url}/token",
        params={"service": "hub-registry", "scope": f"repository:{bob.repo}:pull,push"},
        auth=("bob", token),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert token_access(r.json()["token"]) == [
        {"type": "repository", "name": bob.repo, "actions": ["pull"]}
    ]


def test_cannot_push_into_another_users_namespace(hub, bob, base_images, tmp_path):
    push = try_push(base_images.oci("base"), hub.ref("bob/from-alice", "1"), hub.creds("alice"))
    assert_refused(push, REFUSED)
    # Nothing was created there.
    bob_auth = ("bob", hub.users["bob"])
    tags = requests.get(f"{hub.url}/v2/bob/from-alice/tags/list", auth=bob_auth, timeout=30)
    assert tags.status_code == 404, tags.text


def test_private_repository_only_its_owner_can_pull(hub, bob, tmp_path):
    pull(bob.ref(hub), hub.creds("bob"), tmp_path / "bob")
    assert (tmp_path / "bob" / "manifest.json").exists()
    for who in ("alice", None):
        refused = pull(bob.ref(hub), hub.creds(who) if who else None, tmp_path / str(who), False)
        assert_refused(refused, REFUSED)

    # Over HTTP: no credentials get a token challenge; alice's get the answer a
    # repository that does not exist gets, so that neither is revealed.
    manifest = f"{hub.url}/v2/{bob.repo}/manifests/{bob.tag}"
    anonymous = requests.get(manifest, timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer realm=")
    alice_auth = ("alice", hub.users["alice"])
    alice = requests.get(manifest, auth=alice_auth, timeout=30)
    missing = requests.get(f"{hub.url}/v2/bob/no-such/manifests/1", auth=alice_auth, timeout=30)
    assert alice.status_code == missing.status_code == 404
    assert alice.json()["errors"][0]["code"] == missing.json()["errors"][0]["code"]


def test_connection_survives_a_refused_upload(registry, requires_user):
    """A chunk sent without credentials (as oras-py's Basic auth does before it
    retries with them) is refused with 401 and `Connection: keep-alive`: the
    client may then send its next request on the same connection."""
    auth = (requires_user, registry.users[requires_user])
    uploads = f"{registry.url}/v2/{registry.ns}/refused/blobs/uploads/"
    start = requests.post(uploads, auth=auth, timeout=30)
    assert start.status_code == 202, start.text
    location = urllib.parse.urlsplit(start.headers["Location"])
    upload = location.path + (f"?{location.query}" if location.query else "")
    conn = http.client.HTTPConnection(registry.addr, timeout=30)
    octets = {"Content-Type": "application/octet-stream"}
    answers = []
    try:
        conn.request("PATCH", upload, body=os.urandom(300_000), headers=octets)
        refused = conn.getresponse()
        refused.read()
        answers.append((refused.status, refused.getheader("Connection")))
        time.sleep(0.5)
        conn.request("HEAD", "/v2/")
        answers.append(conn.getresponse().status)
    except OSError as exc:  # http.client.RemoteDisconnected is one
        pytest.fail(f"connection lost after the answers {answers}: {exc!r}")
    finally:
        conn.close()
    # A registry that will not read the rest of the body says `Connection: close`
    # (http.client then opens a new connection for the HEAD).
    assert answers[0][0] == 401
    assert answers[1] == 401
