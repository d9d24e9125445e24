"""Hub's container image (the Dockerfile), built and run by a real Docker
engine as the README's Production section runs it.

This machine cannot pull images, so the Dockerfile's base, debian:bookworm-
slim, is made here from Debian's packages (debootstrap, then `docker import`
under that name) and the same Dockerfile builds unchanged where the real
base exists. The engine's data root is kept between test sessions
(HUB_TEST_DOCKER_ROOT), so the base and the build's layers are made once;
the image itself is built again from this checkout every time, and Docker's
layer cache reuses only steps whose inputs did not change.

The engine has no bridge network, so containers use the host's network
and HUB_ADDR picks a free port: `-p 5000:5000` is the only difference from
the README's command."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import re
import threading
import time

import pytest
import requests

from .engine import BASE, Container, EngineFailed, build_hub_image, ensure_base, image_engine
from .helpers import require_bins, run

pytestmark = pytest.mark.e2e

# The image's own setting (Dockerfile), and `serve`'s margin beyond it.
GRACEFUL_TIMEOUT = 6
STOP_MARGIN = 3
PASSWORD_LINE = re.compile(r"Created the superuser 'admin' with password: (\S+)")
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def engine():
    try:
        with image_engine() as docker:
            yield docker
    except EngineFailed as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="module")
def image(engine, tmp_path_factory):
    ensure_base(engine, tmp_path_factory.mktemp("base"))
    return build_hub_image(engine)


@pytest.fixture
def containers(engine):
    started = []

    def start(**kwargs) -> Container:
        container = Container(engine, **kwargs)
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove()


@pytest.fixture
def data(tmp_path):
    """A host folder for /var/lib/hub, root's, as `docker run -v` makes it."""
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def admin_password(container) -> str:
    found = PASSWORD_LINE.findall(container.logs())
    assert len(found) == 1, container.logs()
    return found[0]


def bearer(url, user, password, scope, verify=True) -> dict:
    challenge = requests.get(f"{url}/v2/", timeout=10, verify=verify).headers["WWW-Authenticate"]
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    answer = requests.get(
        params["realm"],
        params={"service": params["service"], "scope": scope},
        auth=(user, password),
        timeout=30,
        verify=verify,
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_image_runs_hub_as_a_non_root_user_and_says_how_to_check_it(engine, image):
    config = json.loads(engine("image", "inspect", image).stdout)[0]["Config"]
    assert config["Volumes"] == {"/var/lib/hub": {}}
    assert "5000/tcp" in config["ExposedPorts"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert config["Cmd"] == ["all"]


def test_push_pull_search_and_pages_then_data_survives_a_new_container(
    engine, image, containers, data
):
    hub = containers(data=data)
    hub.wait_ready()
    password = admin_password(hub)

    # Hub runs as the user hub (10001), and the volume is that user's.
    top = engine("top", hub.id, "-eo", "pid,uid,args").stdout.decode().splitlines()[1:]
    hub_processes = [line for line in top if "manage.py" in line or "gunicorn" in line]
    assert hub_processes and all(line.split()[1] == "10001" for line in hub_processes), top
    assert os.stat(data / "hub.sqlite3").st_uid == 10001

    host = f"127.0.0.1:{hub.port}"
    engine("login", "-u", "admin", "--password-stdin", host, input=password.encode())
    engine("tag", BASE, f"{host}/admin/base:1")
    pushed = engine("push", f"{host}/admin/base:1", timeout=300).stdout.decode()
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed).group(1)
    engine("rmi", f"{host}/admin/base:1")
    pulled = engine("pull", f"{host}/admin/base:1", timeout=300).stdout.decode()
    assert f"Digest: {digest}" in pulled

    # The repository is public by default: found by `docker search`, shown on its page.
    found = engine("search", f"{host}/base").stdout.decode()
    assert "admin/base" in found, found
    page = requests.get(f"{hub.url}/r/admin/base/", timeout=10)
    assert page.status_code == 200 and "admin/base" in page.text
    assert requests.get(f"{hub.url}/", timeout=10).status_code == 200

    # The healthcheck the image declares passes.
    health = engine("exec", hub.id, "python3", "/app/hub/healthcheck.py", check=False)
    assert health.returncode == 0, health.stderr

    # A new container on the same folder has everything; no new password.
    hub.stop()
    hub.remove()
    again = containers(data=data)
    again.wait_ready()
    assert not PASSWORD_LINE.search(again.logs())
    host = f"127.0.0.1:{again.port}"
    engine("login", "-u", "admin", "--password-stdin", host, input=password.encode())
    engine("rmi", "--force", f"127.0.0.1:{hub.port}/admin/base:1")
    pulled = engine("pull", f"{host}/admin/base:1", timeout=300).stdout.decode()
    assert f"Digest: {digest}" in pulled


def test_sigterm_lets_an_upload_in_flight_finish_and_it_resumes_in_a_new_container(
    engine, image, containers, data
):
    hub = containers(data=data)
    hub.wait_ready()
    password = admin_password(hub)
    scope = "repository:admin/big:push,pull"
    blob = os.urandom(3 * MiB)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()

    auth = bearer(hub.url, "admin", password, scope)
    started = requests.post(f"{hub.url}/v2/admin/big/blobs/uploads/", headers=auth, timeout=10)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    first = requests.patch(
        f"{hub.url}{location}",
        data=blob[:MiB],
        headers={**auth, "Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert first.status_code == 202, first.text
    location = first.headers["Location"]

    # The second chunk trickles in over about 3 s; SIGTERM comes 1 s in.
    def trickle():
        chunk = blob[MiB : 2 * MiB]
        for offset in range(0, len(chunk), 64 * 1024):
            yield chunk[offset : offset + 64 * 1024]
            time.sleep(3 / 16)

    answers = []

    def send_second_chunk():
        headers = {**auth, "Content-Type": "application/octet-stream"}
        answers.append(
            requests.patch(f"{hub.url}{location}", data=trickle(), headers=headers, timeout=60)
        )

    sender = threading.Thread(target=send_second_chunk)
    sender.start()
    time.sleep(1)
    took = hub.stop(timeout=30)
    sender.join(timeout=60)

    # The request in flight finished; the container then exited, by itself,
    # within the bound and with success.
    assert answers and answers[0].status_code == 202, answers and answers[0].text
    assert answers[0].headers["Range"] == f"0-{2 * MiB - 1}"
    assert took < GRACEFUL_TIMEOUT + STOP_MARGIN + 2, (took, hub.logs())
    state = hub.state()
    assert state["ExitCode"] == 0 and not state["OOMKilled"], (state, hub.logs())
    assert "did not stop in time" not in hub.logs()
    # Stopped, it refuses connections.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{hub.url}/-/healthy", timeout=5)

    # A new container on the same data continues the same upload.
    again = containers(data=data)
    again.wait_ready()
    auth = bearer(again.url, "admin", password, scope)
    status = requests.get(f"{again.url}{location}", headers=auth, timeout=10)
    assert status.status_code == 204 and status.headers["Range"] == f"0-{2 * MiB - 1}"
    last = requests.patch(
        f"{again.url}{location}",
        data=blob[2 * MiB :],
        headers={**auth, "Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert last.status_code == 202, last.text
    done = requests.put(
        f"{again.url}{last.headers['Location']}",
        params={"digest": digest},
        headers=auth,
        timeout=30,
    )
    assert done.status_code == 201, done.text
    got = requests.get(f"{again.url}/v2/admin/big/blobs/{digest}", headers=auth, timeout=30)
    assert got.status_code == 200 and got.content == blob


def test_own_tls_for_clients_that_trust_its_ca(engine, image, containers, data, tmp_path):
    ca_pem, cert_pem, key_pem = certificates()
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "hub.crt").write_bytes(cert_pem)
    (certs / "hub.key").write_bytes(key_pem)
    os.chmod(certs / "hub.key", 0o644)  # readable by the user hub in the container
    hub = containers(
        data=data,
        env={"HUB_TLS_CERT": "/certs/hub.crt", "HUB_TLS_KEY": "/certs/hub.key"},
        volumes=[f"{certs}:/certs:ro"],
    )
    ca = tmp_path / "ca.crt"
    ca.write_bytes(ca_pem)
    url = f"https://127.0.0.1:{hub.port}"
    hub.url = url
    hub.wait_ready(verify=str(ca))
    password = admin_password(hub)

    # Plain http is not served; a client without the CA refuses the certificate.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{hub.port}/v2/", timeout=5)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{url}/v2/", timeout=5)
    assert requests.get(f"{url}/v2/", verify=str(ca), timeout=5).status_code == 401

    # skopeo with the CA in its certificate folder, as Docker's certs.d/HOST:PORT/.
    skopeo = require_bins("skopeo")["skopeo"]
    cert_dir = tmp_path / "certs.d"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_bytes(ca_pem)
    source = tmp_path / "layout"
    engine("save", "--output", tmp_path / "base.tar", BASE)
    run([skopeo, "copy", f"docker-archive:{tmp_path / 'base.tar'}", f"oci:{source}:base"])
    destination = f"docker://127.0.0.1:{hub.port}/admin/tls:1"
    credentials = f"admin:{password}"
    run([skopeo, "copy", "--dest-cert-dir", cert_dir, "--dest-creds", credentials,
         f"oci:{source}:base", destination], timeout=300)  # fmt: skip
    inspected = run([skopeo, "inspect", "--cert-dir", cert_dir, "--creds", credentials,
                     destination]).stdout  # fmt: skip
    assert json.loads(inspected)["Name"] == f"127.0.0.1:{hub.port}/admin/tls"
    # A blob comes back whole over TLS (streamed: the kernel cannot encrypt).
    layer = json.loads(inspected)["Layers"][0]
    auth = bearer(url, "admin", password, "repository:admin/tls:pull", verify=str(ca))
    got = requests.get(
        f"{url}/v2/admin/tls/blobs/{layer}", headers=auth, verify=str(ca), timeout=60
    )
    assert got.status_code == 200
    assert "sha256:" + hashlib.sha256(got.content).hexdigest() == layer
    # Without the CA, skopeo refuses the certificate.
    refused = run([skopeo, "inspect", "--creds", credentials, destination], check=False)
    assert refused.returncode != 0 and b"certificate" in refused.stderr


def certificates():
    """A CA, and a certificate it signed for 127.0.0.1: PEM bytes."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject, issuer, public_key, signing_key, *, ca, extensions=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("Hub test CA", "Hub test CA", ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = build("127.0.0.1", "Hub test CA", key.public_key(), ca_key, ca=False,
                 extensions=[names])  # fmt: skip
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


def test_roles_one_at_a_time(engine, image, data):
    migrate = engine("run", "--rm", "--network", "none", "-v", f"{data}:/var/lib/hub",
                     image, "migrate", timeout=300)  # fmt: skip
    assert PASSWORD_LINE.search(migrate.stdout.decode() + migrate.stderr.decode())
    assert (data / "hub.sqlite3").exists()
    wrong = engine("run", "--rm", "--network", "none", image, "frontend", check=False)
    assert wrong.returncode != 0
    assert b"invalid choice: 'frontend'" in wrong.stderr
