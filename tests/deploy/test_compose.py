"""deploy/compose.yaml, as docker-compose renders it with an env file made
from deploy/hub.env.example, and the nginx configuration it mounts."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
HUB_SERVICES = {
    "migrate": "migrate",
    "web": "web",
    "worker": "worker",
    "builds": "builds",
    "beat": "beat",
}
THIRD_PARTY = {"postgres", "cache", "broker", "minio", "bucket", "nginx"}
LONG_RUNNING = {"postgres", "cache", "broker", "minio", "nginx", "web", "worker", "builds", "beat"}
# Official images, each pinned: PostgreSQL and Redis to a major version,
# nginx to a release series, MinIO's to a release.
OFFICIAL_IMAGE = re.compile(
    r"^(postgres:\d+|redis:\d+|nginx:\d+\.\d+|minio/minio:RELEASE\.[\dTZ-]+|minio/mc:RELEASE\.[\dTZ-]+)$"
)


@pytest.fixture(scope="module")
def raw():
    """The file as written (YAML merge keys resolved), for what rendering
    inlines: which env file each service names."""
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def deploy_copy(tmp_path_factory):
    """deploy/ with hub.env made from the example, as an operator makes it."""
    deploy = tmp_path_factory.mktemp("project") / "deploy"
    shutil.copytree(DEPLOY, deploy, ignore=shutil.ignore_patterns("hub.env"))
    shutil.copy(DEPLOY / "hub.env.example", deploy / "hub.env")
    return deploy


@pytest.fixture(scope="module")
def rendered(deploy_copy):
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (scripts/setup-debian test installs it)")
    deploy = deploy_copy
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_", "HUB_"))}
    result = subprocess.run(
        [compose, "--file", str(deploy / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def target(entry):
    """The container side of a port or volume, in the long or the short syntax."""
    if isinstance(entry, dict):
        return str(entry["target"])
    return str(entry).split(":")[1]


def seconds(duration):
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match and duration, duration
    return int(match[1] or 0) * 60 + int(match[2] or 0)


def test_the_services_and_the_roles_hub_runs_in(rendered):
    services = rendered["services"]
    assert set(services) == set(HUB_SERVICES) | THIRD_PARTY
    for name, role in HUB_SERVICES.items():
        assert services[name]["command"] == [role], name


def test_third_parties_run_their_official_images_pinned(rendered):
    for name in THIRD_PARTY:
        assert OFFICIAL_IMAGE.match(rendered["services"][name]["image"]), name


def test_every_hub_service_runs_the_same_image_with_the_same_settings(raw, rendered, deploy_copy):
    services = rendered["services"]
    images = {services[name]["image"] for name in HUB_SERVICES}
    assert images == {"hub:latest"}
    environments = [services[name]["environment"] for name in HUB_SERVICES]
    assert all(environment == environments[0] for environment in environments)
    for name in HUB_SERVICES:
        assert raw["services"][name]["env_file"] == "hub.env", name
        assert services[name]["volumes"] == services["web"]["volumes"], name
        # Built from the repository (the directory above deploy/).
        build = services[name]["build"]
        context = build["context"] if isinstance(build, dict) else build
        assert Path(context) == deploy_copy.parent, name


def test_hub_gets_the_shared_services_and_secrets(rendered):
    environment = rendered["services"]["web"]["environment"]
    assert environment["HUB_DATABASE_URL"].startswith("postgres://hub:")
    assert environment["HUB_DATABASE_URL"].endswith("@postgres:5432/hub")
    assert environment["HUB_CACHE_URL"] == "redis://cache:6379/0"
    assert environment["HUB_BROKER_URL"] == "redis://broker:6379/0"
    assert environment["HUB_STORAGE"] == "s3"
    assert environment["HUB_S3_ENDPOINT_URL"] == "http://minio:9000"
    # Clients cannot reach MinIO on the compose network: Hub streams blobs.
    assert environment["HUB_BLOB_DELIVERY"] == "stream"
    assert environment["HUB_TRUST_PROXY_HEADERS"] == "true"
    for secret in ("HUB_SECRET_KEY", "HUB_TOKEN_KEY", "HUB_S3_SECRET_ACCESS_KEY"):
        assert environment[secret].startswith("CHANGE-ME"), secret
    # What postgres sets and what Hub connects with are one password.
    postgres = rendered["services"]["postgres"]["environment"]
    assert f":{postgres['POSTGRES_PASSWORD']}@" in environment["HUB_DATABASE_URL"]


def test_migrate_runs_once_and_gates_everything_else_that_runs_hub(rendered):
    services = rendered["services"]
    assert services["migrate"]["restart"] == "no"
    assert "migrate" not in services["migrate"]["depends_on"]
    for name in set(HUB_SERVICES) - {"migrate"}:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends_on["bucket"] == {"condition": "service_completed_successfully"}, name
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_several_web_processes_and_exactly_one_beat(rendered):
    services = rendered["services"]
    assert services["web"]["deploy"]["replicas"] >= 2
    assert services["beat"]["deploy"]["replicas"] == 1
    assert "scale" not in services["beat"]


def test_web_is_checked_for_readiness_and_stopped_gracefully(rendered):
    web = rendered["services"]["web"]
    healthcheck = web["healthcheck"]
    assert healthcheck["test"][0] == "CMD"
    # The image's check: GET /-/ready on the container's own port.
    assert healthcheck["test"][1:] == ["python3", "/app/hub/healthcheck.py"]
    graceful = int(web["environment"]["HUB_WEB_GRACEFUL_TIMEOUT"])
    # `serve` gives requests the graceful timeout and 5 s more.
    assert seconds(web["stop_grace_period"]) > graceful + 5
    for name in ("worker", "beat"):
        assert seconds(rendered["services"][name]["stop_grace_period"]) > graceful + 5


def test_services_come_back_and_only_nginx_is_published(rendered):
    services = rendered["services"]
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx"}
    nginx = services["nginx"]
    assert {target(port) for port in nginx["ports"]} == {"80", "443"}
    assert nginx["depends_on"]["web"] == {"condition": "service_healthy"}
    targets = {target(volume) for volume in nginx["volumes"]}
    assert targets == {"/etc/nginx/conf.d/default.conf", "/etc/nginx/tls"}


def test_the_cache_evicts_and_the_broker_keeps_its_messages(rendered):
    cache = rendered["services"]["cache"]["command"]
    broker = rendered["services"]["broker"]["command"]
    assert cache[cache.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert broker[broker.index("--maxmemory-policy") + 1] == "noeviction"
    assert broker[broker.index("--appendonly") + 1] == "yes"


def test_nginx_streams_both_ways_to_the_web_service():
    conf = (DEPLOY / "nginx" / "hub.conf").read_text()
    directives = {
        line.strip().rstrip(";")
        for line in conf.splitlines()
        if line.strip() and not line.strip().startswith("#")
    }
    for directive in (
        "server web:5000 resolve",
        "proxy_pass http://hub_web",
        "client_max_body_size 0",
        "proxy_request_buffering off",
        "proxy_buffering off",
        "proxy_http_version 1.1",
        'proxy_set_header Connection ""',
        "proxy_set_header X-Forwarded-Proto $scheme",
        "proxy_set_header X-Forwarded-For $remote_addr",
        "ssl_certificate /etc/nginx/tls/tls.crt",
        "ssl_certificate_key /etc/nginx/tls/tls.key",
        "proxy_read_timeout 900s",
        "proxy_send_timeout 900s",
    ):
        assert directive in directives, directive
    # nginx closes idle upstream connections before Hub would (HUB_WEB_KEEPALIVE, 75 s).
    assert "keepalive_timeout 60s" in directives
