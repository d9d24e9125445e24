"""Demo content for a new Hub: users, an organization, official images and
repositories with tags, a multi-arch index, stars and a month of pulls.

Images are made here, offline: the busybox image is Debian's busybox-static
binary with its applet links; the others hold small text files.
"""

import gzip
import hashlib
import io
import json
import platform
import tarfile
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Namespace

from . import pulls, services
from .oci import manifests as oci

BUSYBOX = Path("/bin/busybox")
BUSYBOX_APPLETS = ("sh", "ls", "cat", "echo", "env", "id", "uname", "wget", "vi", "top")
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}

README_BUSYBOX = """# busybox

BusyBox combines tiny versions of many common UNIX utilities into a single
small executable. This image holds Debian's statically linked build.

```sh
docker run --rm -it {host}/busybox sh
```
"""

README_HELLO = """# hello

A tiny multi-platform image: one tag, an index with a `linux/amd64` and a
`linux/arm64` image. Pull it on either and you get your platform's variant.
"""

README_API = """# acme/api

The Acme order API. Tags follow semantic versioning; `latest` is the newest
release.

| tag | notes |
|-----|-------|
| 2.0 | new pricing endpoint |
| 1.1 | bug fixes |
| 1.0 | first release |
"""


def _layer(files, *, mode=0o644, links=()):
    """A gzipped tar layer holding ``files`` (path → bytes) and symlinks."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
        for path, target in links:
            info = tarfile.TarInfo(path)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, 0
            tar.addfile(info)
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    return gzip.compress(raw.getvalue(), mtime=0), diff_id


def _push_blob(repository, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    services.blob_upload_monolithic(
        repository=repository, digest=digest, stream=io.BytesIO(data), length=len(data)
    )
    return {"digest": digest, "size": len(data)}


def _push_image(repository, layers, *, architecture="amd64", cmd=("sh",), tags=(), labels=None):
    """Push a Docker schema 2 image; returns its descriptor for an index."""
    blobs = [(_push_blob(repository, data), diff_id) for data, diff_id in layers]
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "config": {"Cmd": list(cmd), "Labels": labels or {}},
            "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in blobs]},
            "created": "2026-01-01T00:00:00Z",
            # One entry per layer: builders that build FROM the image count them.
            "history": [
                {"created": "2026-01-01T00:00:00Z", "created_by": "hub_demo"} for _ in blobs
            ],
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": oci.DOCKER_MANIFEST,
            "config": {"mediaType": oci.IMAGE_CONFIG_TYPES[0], **_push_blob(repository, config)},
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", **blob}
                for blob, _ in blobs
            ],
        },
        indent=3,
    ).encode()
    return _push_manifest(repository, manifest, oci.DOCKER_MANIFEST, tags) | {
        "platform": {"architecture": architecture, "os": "linux"}
    }


def _push_manifest(repository, payload, media_type, tags):
    digest = "sha256:" + hashlib.sha256(payload).hexdigest()
    services.manifest_put(
        repository=repository,
        reference=digest,
        payload=payload,
        content_type=media_type,
        tags=list(tags),
    )
    return {"mediaType": media_type, "digest": digest, "size": len(payload)}


def _busybox_layers():
    if BUSYBOX.exists():
        links = [(f"bin/{applet}", "busybox") for applet in BUSYBOX_APPLETS]
        return [_layer({"bin/busybox": BUSYBOX.read_bytes()}, mode=0o755, links=links)]
    # Without busybox-static the image still shows the shape of one.
    return [_layer({"etc/motd": b"Install busybox-static for a working image.\n"})]


def _text_image(repository, version, tags, architecture="amd64"):
    files = {
        "srv/VERSION": f"{version}\n".encode(),
        "srv/README": f"{repository.full_name} {version} for {architecture}\n".encode(),
    }
    return _push_image(
        repository,
        [_layer(files)],
        architecture=architecture,
        cmd=("cat", "/srv/README"),
        tags=tags,
    )


def _user(username, email):
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(username, email)  # no password: demo owners only
    return user


@transaction.atomic
def create_demo(*, host="localhost:8000"):
    """Fill an empty hub. Returns the repositories it made."""
    grace = _user("grace", "grace@example.com")
    linus = _user("linus", "linus@example.com")
    acme = account_services.organization_create(
        name="acme", owner=grace, display_name="Acme Corporation"
    )
    account_services.membership_set(organization=acme, user=linus, role="member")
    developers = account_services.team_create(organization=acme, name="developers")
    account_services.team_member_add(team=developers, user=linus)
    library = account_services.staff_namespace_get_or_create(name="library")

    def repository(namespace, name, description, readme="", visibility="public", official=False):
        repo = services.repository_create(
            namespace=namespace,
            name=name,
            visibility=visibility,
            description=description,
            full_description=readme,
        )
        if official:
            services.repository_update(repository=repo, is_official=True)
        return repo

    busybox = repository(
        library, "busybox", "Tiny UNIX utilities in one binary", README_BUSYBOX.format(host=host),
        official=True,
    )  # fmt: skip
    architecture = ARCHITECTURES.get(platform.machine(), "amd64")
    _push_image(busybox, _busybox_layers(), architecture=architecture, tags=["1.35", "latest"])

    hello = repository(
        library, "hello", "A multi-platform hello image", README_HELLO, official=True
    )
    children = [_text_image(hello, "1.0", (), arch) for arch in ("amd64", "arm64")]
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": oci.DOCKER_MANIFEST_LIST, "manifests": children},
        indent=3,
    ).encode()
    _push_manifest(hello, index, oci.DOCKER_MANIFEST_LIST, ["1.0", "latest"])

    api = repository(acme.namespace, "api", "The Acme order API", README_API)
    for version in ("1.0", "1.1", "2.0"):
        _text_image(api, version, [version] + (["latest"] if version == "2.0" else []))
    services.team_access_set(repository=api, team=developers, permission="write")

    notes = repository(
        Namespace.objects.get(name="grace"),
        "notes",
        "Grace's private notes image",
        "Private: only grace (and staff) can see it.",
        visibility="private",
    )
    _text_image(notes, "0.1", ["0.1", "latest"])
    tools = repository(Namespace.objects.get(name="linus"), "tools", "Linus's debugging tools")
    _text_image(tools, "3.2", ["3.2", "latest"])

    for user, starred in ((grace, [busybox, hello, api]), (linus, [busybox, tools])):
        for repo in starred:
            services.star_add(user=user, repository=repo)
    _pull_history([busybox, hello, api, tools])
    return [busybox, hello, api, notes, tools]


def _pull_history(repositories):
    """A month of made-up daily pulls, busier for the first repositories."""
    today = timezone.now().date()
    counts = {}
    for rank, repo in enumerate(repositories):
        for age in range(30):
            day = today - timedelta(days=age)
            counts[(repo.pk, day)] = (40 // (rank + 1)) * (3 + (age * 7 + rank) % 5)
    pulls.pulls_flush(counts=counts)
