"""ORAS (oras-py SDK): OCI artifacts with custom types, a referrer via `subject`; login."""

from __future__ import annotations

import json
import os

import pytest
import requests

from .helpers import OCI_INDEX, OCI_MANIFEST, get_manifest, sha256_bytes

pytestmark = pytest.mark.e2e

oras_client = pytest.importorskip("oras.client", reason="oras (oras-py) is not installed")
import oras.oci  # noqa: E402

CONFIG_TYPE = "application/vnd.hub.e2e.config.v1+json"
FILE_TYPE = "application/vnd.hub.e2e.file.v1"
SIG_ARTIFACT_TYPE = "application/vnd.hub.e2e.signature.v1"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


# oras-py retries any failed request (a 500 included) five times with back-off
# (about two minutes); call the undecorated request function so that a registry
# error surfaces at once, with its status code and body.
_do_request_once = oras_client.OrasClient.do_request.__wrapped__


class Client(oras_client.OrasClient):
    def do_request(self, *args, headers=None, **kwargs):
        # With Basic credentials, send them at once rather than only after a
        # 401: after refusing a body of over 64 KiB it did not read, Hub closes
        # the connection the client retries on (see
        # test_login.py::test_connection_survives_a_refused_upload).
        if getattr(self.auth, "_basic_auth", None):
            headers = {**(headers or {}), **self.auth.get_auth_header()}
        return _do_request_once(self, *args, headers=headers, **kwargs)


class ArtifactTypeClient(Client):
    """oras-py cannot set the OCI 1.1 manifest `artifactType`; add it before upload."""

    artifact_type: str | None = None

    def upload_manifest(self, manifest, container):
        if self.artifact_type:
            manifest["artifactType"] = self.artifact_type
        return super().upload_manifest(manifest, container)


def client(registry, cls=Client, user=None, password=None):
    """An oras-py client sending user's Basic credentials (default: the pushing user's).

    Not oras-py's default token backend: it keeps the first token it gets, so
    after a HEAD of a blob in a repository that does not exist yet has earned it
    a pull-only token, it retries the upload's POST with that token and gives up
    ("Issue retrieving session url": oras-project/oras-py#67).
    """
    c = cls(hostname=registry.addr, insecure=True, auth_backend="basic")
    user = user or registry.user
    if user:
        c.auth.set_basic_auth(user, password or registry.users[user])
    return c


def repo(registry, name):
    return f"{registry.ns}/{name}"


@pytest.fixture(scope="module")
def artifact(registry, tmp_path_factory):
    """Push <ns>/artifact:v1 (custom config type, two files); return what was pushed."""
    src = tmp_path_factory.mktemp("oras-src")
    files = {
        "readme.txt": b"hello from the hub e2e tests\n",
        "data.bin": bytes(range(256)) * 4096 + os.urandom(1024),  # ~1 MiB, unique
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    config = src / "config.json"
    config.write_text(json.dumps({"e2e": True}))
    target = registry.ref(repo(registry, "artifact"), "v1")
    resp = client(registry).push(
        target=target,
        files=[f"{src / 'readme.txt'}:text/plain", f"{src / 'data.bin'}:{FILE_TYPE}"],
        manifest_config=f"{config}:{CONFIG_TYPE}",
        manifest_annotations={"org.opencontainers.image.description": "hub e2e artifact"},
        disable_path_validation=True,
        quiet=True,
    )
    assert resp.status_code == 201, (resp.status_code, resp.text)
    r = get_manifest(registry.url, repo(registry, "artifact"), "v1", accept=OCI_MANIFEST)
    assert r.status_code == 200, r.text
    return {
        "target": target,
        "files": files,
        "config": config.read_bytes(),
        "manifest_bytes": r.content,
        "digest": r.headers["Docker-Content-Digest"],
        "push_location": resp.headers.get("Location"),
    }


def test_oras_push_pull_artifact(registry, artifact, tmp_path):
    manifest = json.loads(artifact["manifest_bytes"])
    assert sha256_bytes(artifact["manifest_bytes"]) == artifact["digest"]
    assert manifest["config"]["mediaType"] == CONFIG_TYPE
    assert {
        (layer["annotations"]["org.opencontainers.image.title"], layer["mediaType"])
        for layer in manifest["layers"]
    } == {
        ("readme.txt", "text/plain"),
        ("data.bin", FILE_TYPE),
    }
    assert manifest["annotations"]["org.opencontainers.image.description"] == "hub e2e artifact"

    out = tmp_path / "pulled"
    out.mkdir()
    pulled = client(registry).pull(target=artifact["target"], outdir=str(out))
    assert sorted(os.path.basename(p) for p in pulled) == sorted(artifact["files"])
    for name, data in artifact["files"].items():
        assert (out / name).read_bytes() == data

    # The config blob is served byte for byte too, and the tag is listed.
    c = client(registry)
    blob = c.get_blob(artifact["target"], manifest["config"]["digest"])
    assert blob.status_code == 200 and blob.content == artifact["config"]
    assert "v1" in c.get_tags(artifact["target"])

    # Pull by digest as well.
    by_digest = tmp_path / "by-digest"
    by_digest.mkdir()
    client(registry).pull(
        target=registry.ref(repo(registry, "artifact"), digest=artifact["digest"]),
        outdir=str(by_digest),
    )
    assert (by_digest / "readme.txt").read_bytes() == artifact["files"]["readme.txt"]


def test_oras_chunked_upload(registry, tmp_path):
    """Blobs uploaded in several PATCH chunks (Content-Range) are stored whole."""
    src = tmp_path / "src"
    src.mkdir()
    data = os.urandom(1_000_003)  # three full 300 kB chunks and a partial one
    (src / "chunked.bin").write_bytes(data)
    target = registry.ref(repo(registry, "chunked"), "v1")
    resp = client(registry).push(
        target=target,
        files=[f"{src / 'chunked.bin'}:{FILE_TYPE}"],
        do_chunked=True,
        chunk_size=300_000,
        disable_path_validation=True,
        quiet=True,
    )
    assert resp.status_code == 201, (resp.status_code, resp.text)
    out = tmp_path / "out"
    out.mkdir()
    client(registry).pull(target=target, outdir=str(out))
    assert (out / "chunked.bin").read_bytes() == data
    blob = requests.head(
        f"{registry.url}/v2/{repo(registry, 'chunked')}/blobs/{sha256_bytes(data)}", timeout=30
    )
    assert blob.status_code == 200
    assert int(blob.headers["Content-Length"]) == len(data)


@pytest.fixture(scope="module")
def referrer(registry, artifact, tmp_path_factory):
    """Push <ns>/artifact:sig, an OCI 1.1 artifact whose subject is <ns>/artifact:v1."""
    src = tmp_path_factory.mktemp("oras-sig")
    sig = src / "signature.json"
    sig.write_text(json.dumps({"signed": artifact["digest"]}))
    empty = src / "empty.json"
    empty.write_bytes(b"{}")
    subject = oras.oci.Subject(
        mediaType=OCI_MANIFEST, digest=artifact["digest"], size=len(artifact["manifest_bytes"])
    )
    c = client(registry, ArtifactTypeClient)
    c.artifact_type = SIG_ARTIFACT_TYPE
    resp = c.push(
        target=registry.ref(repo(registry, "artifact"), "sig"),
        files=[f"{sig}:application/vnd.hub.e2e.signature.payload.v1+json"],
        manifest_config=f"{empty}:{EMPTY_TYPE}",
        subject=subject,
        manifest_annotations={"org.opencontainers.image.description": "hub e2e signature"},
        disable_path_validation=True,
        quiet=True,
    )
    assert resp.status_code == 201, (resp.status_code, resp.text)
    r = get_manifest(registry.url, repo(registry, "artifact"), "sig", accept=OCI_MANIFEST)
    assert r.status_code == 200, r.text
    return {
        "digest": r.headers["Docker-Content-Digest"],
        "manifest_bytes": r.content,
        "push": resp,
        "sig": sig,
    }


def test_oras_push_artifact_with_subject(registry, artifact, referrer, tmp_path):
    manifest = json.loads(referrer["manifest_bytes"])
    assert sha256_bytes(referrer["manifest_bytes"]) == referrer["digest"]
    assert manifest["artifactType"] == SIG_ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == EMPTY_TYPE
    assert manifest["subject"] == {
        "mediaType": OCI_MANIFEST,
        "digest": artifact["digest"],
        "size": len(artifact["manifest_bytes"]),
    }
    out = tmp_path / "sig"
    out.mkdir()
    client(registry).pull(target=registry.ref(repo(registry, "artifact"), "sig"), outdir=str(out))
    assert (out / "signature.json").read_bytes() == referrer["sig"].read_bytes()


def test_oras_referrers_api(registry, artifact, referrer):
    referrers = f"{registry.url}/v2/{repo(registry, 'artifact')}/referrers"
    r = requests.get(f"{referrers}/{artifact['digest']}", timeout=30)
    if r.status_code == 404 and registry.target == "reference":
        pytest.skip("the reference registry (distribution 2.8) has no referrers API")
    assert r.status_code == 200, (r.status_code, r.text[:500])
    assert r.headers.get("Content-Type", "").split(";")[0] == OCI_INDEX
    # A registry that processes `subject` says so on the manifest PUT.
    assert referrer["push"].headers.get("OCI-Subject") == artifact["digest"]
    index = r.json()
    assert index["mediaType"] == OCI_INDEX
    descs = {d["digest"]: d for d in index["manifests"]}
    assert referrer["digest"] in descs, index
    desc = descs[referrer["digest"]]
    assert desc["artifactType"] == SIG_ARTIFACT_TYPE
    assert desc["size"] == len(referrer["manifest_bytes"])
    assert desc["mediaType"] == OCI_MANIFEST

    assert (
        desc.get("annotations", {}).get("org.opencontainers.image.description")
        == "hub e2e signature"
    )
    assert artifact["digest"] not in descs  # only manifests whose subject is the digest

    filtered = requests.get(
        f"{referrers}/{artifact['digest']}",
        params={"artifactType": "application/vnd.hub.e2e.nothing"},
        timeout=30,
    )
    assert filtered.status_code == 200, filtered.text[:500]
    if "artifactType" in filtered.headers.get("OCI-Filters-Applied", ""):
        assert filtered.json()["manifests"] == []
    else:  # filtering is optional; unfiltered answers must still be complete
        assert referrer["digest"] in {d["digest"] for d in filtered.json()["manifests"]}

    # An unknown subject has no referrers: empty index, not 404.
    none = requests.get(f"{referrers}/{sha256_bytes(b'no such manifest')}", timeout=30)
    assert none.status_code == 200, none.text[:500]
    assert none.json()["manifests"] == []


def login(registry, password, config):
    """An oras-py client after `login`, which only keeps the credentials (and
    writes them into the Docker config file `config`): no request is made."""
    c = Client(hostname=registry.addr, insecure=True, auth_backend="basic")
    status = c.login(registry.user, password, hostname=registry.addr, config_path=str(config))
    assert status == {"Status": "Login Succeeded"}
    return c


def test_oras_login_push_pull(registry, requires_user, tmp_path):
    config = tmp_path / "config.json"
    c = login(registry, registry.users[requires_user], config)
    assert registry.addr in json.loads(config.read_text())["auths"]
    (tmp_path / "note.txt").write_bytes(b"pushed after oras login\n")
    target = registry.ref(repo(registry, "oras-login"), "v1")
    files = [f"{tmp_path / 'note.txt'}:text/plain"]
    resp = c.push(target=target, files=files, disable_path_validation=True, quiet=True)
    assert resp.status_code == 201, (resp.status_code, resp.text)
    out = tmp_path / "out"
    out.mkdir()
    c.pull(target=target, outdir=str(out))
    assert (out / "note.txt").read_bytes() == b"pushed after oras login\n"


def test_oras_wrong_password_is_refused(registry, requires_user, tmp_path, forgive_failures):
    c = login(registry, "not-the-password", tmp_path / "config.json")
    (tmp_path / "note.txt").write_bytes(b"never pushed\n")
    target = registry.ref(repo(registry, "oras-refused"), "v1")
    files = [f"{tmp_path / 'note.txt'}:text/plain"]
    with pytest.raises(ValueError, match="(?i)unauthorized"):
        c.push(target=target, files=files, disable_path_validation=True, quiet=True)
