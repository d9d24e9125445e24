"""deploy/kubernetes, rendered by kubectl's kustomize and checked against the
Kubernetes API schemas, then for what Hub needs of it."""

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

BASE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
# The newest Kubernetes whose schemas kubernetes-validate ships.
KUBERNETES_VERSION = "1.37.0"
ROLES = {"hub-web": "web", "hub-worker": "worker", "hub-builds": "builds", "hub-beat": "beat"}
PORT = 5000


@pytest.fixture(scope="module")
def documents():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (scripts/setup-debian test installs it)")
    result = subprocess.run(
        [kubectl, "kustomize", str(BASE)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(documents, kind):
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def pod_specs(documents):
    """Every pod template: the Deployments' and the migration Job's."""
    workloads = {**by_kind(documents, "Deployment"), **by_kind(documents, "Job")}
    return {name: doc["spec"]["template"]["spec"] for name, doc in workloads.items()}


def containers(pod):
    return [*pod.get("initContainers", []), *pod["containers"]]


def port_number(container, port):
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return number


def test_every_document_is_valid_in_strict_mode(documents):
    assert documents
    for doc in documents:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_strict_validation_refuses_a_misspelt_field(documents):
    web = by_kind(documents, "Deployment")["hub-web"]
    broken = yaml.safe_load(yaml.safe_dump(web))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_topology(documents):
    assert set(by_kind(documents, "Deployment")) == set(ROLES)
    assert set(by_kind(documents, "Job")) == {"hub-migrate"}
    assert set(by_kind(documents, "Service")) == {"hub-web"}
    assert set(by_kind(documents, "Ingress")) == {"hub"}
    assert len(by_kind(documents, "ConfigMap")) == 1
    assert len(by_kind(documents, "Secret")) == 1
    # PostgreSQL, Redis and S3 are the provider's: nothing else runs here.
    assert {doc["kind"] for doc in documents} == {
        "Deployment", "Job", "Service", "Ingress", "ConfigMap", "Secret"
    }  # fmt: skip


def test_each_deployment_runs_its_role_and_the_job_migrates(documents):
    for name, deployment in by_kind(documents, "Deployment").items():
        (main, *sidecars) = deployment["spec"]["template"]["spec"]["containers"]
        assert main["args"] == [ROLES[name]], name
    (job,) = by_kind(documents, "Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")


def test_web_is_probed_on_its_port(documents):
    web = by_kind(documents, "Deployment")["hub-web"]
    assert web["spec"]["replicas"] >= 2
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert [p["containerPort"] for p in container["ports"]] == [PORT]
    probes = {
        "readinessProbe": "/-/ready",
        "livenessProbe": "/-/healthy",
        "startupProbe": "/-/healthy",
    }
    for probe, path in probes.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert port_number(container, get["port"]) == PORT, probe


def test_web_outlasts_its_graceful_timeout(documents):
    (config,) = by_kind(documents, "ConfigMap").values()
    graceful = int(config["data"]["HUB_WEB_GRACEFUL_TIMEOUT"])
    web = by_kind(documents, "Deployment")["hub-web"]["spec"]["template"]["spec"]
    pause = int(web["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    # `serve` gives requests the graceful timeout and 5 s more.
    assert web["terminationGracePeriodSeconds"] > pause + graceful + 5


def test_exactly_one_beat_never_two_during_a_rollout(documents):
    beat = by_kind(documents, "Deployment")["hub-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}


def test_every_hub_container_has_the_same_image_config_and_secret(documents):
    (config_name,) = by_kind(documents, "ConfigMap")
    (secret_name,) = by_kind(documents, "Secret")
    images = set()
    for name, pod in pod_specs(documents).items():
        for container in containers(pod):
            images.add(container["image"])
            sources = [
                (kind, ref["name"])
                for source in container["envFrom"]
                for kind, ref in source.items()
            ]
            assert sources == [("configMapRef", config_name), ("secretRef", secret_name)], name
    assert images == {"hub:latest"}


def test_pods_run_unprivileged_on_a_read_only_root(documents):
    for name, pod in pod_specs(documents).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in containers(pod):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            # Hub writes to its data directory and to /tmp only.
            assert set(mounts) == {"/var/lib/hub", "/tmp"}, name
            assert all("emptyDir" in volumes[volume] for volume in mounts.values()), name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name


def test_the_ingress_reaches_the_web_service_unbuffered_over_tls(documents):
    service = by_kind(documents, "Service")["hub-web"]
    web = by_kind(documents, "Deployment")["hub-web"]["spec"]["template"]
    labels = web["metadata"]["labels"]
    assert all(labels.get(key) == value for key, value in service["spec"]["selector"].items())
    (service_port,) = service["spec"]["ports"]
    assert port_number(web["spec"]["containers"][0], service_port["targetPort"]) == PORT

    ingress = by_kind(documents, "Ingress")["hub"]
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/"
    assert path["backend"]["service"] == {"name": "hub-web", "port": {"name": "http"}}
    (tls,) = ingress["spec"]["tls"]
    assert tls["secretName"] and tls["hosts"] == [rule["host"]]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"


def test_config_and_secret_hold_what_a_multi_node_hub_shares(documents):
    (config,) = by_kind(documents, "ConfigMap").values()
    (secret,) = by_kind(documents, "Secret").values()
    # What every node of tests/faults/harness.py's cluster gets alike.
    shared_secrets = {
        "HUB_DATABASE_URL",
        "HUB_CACHE_URL",
        "HUB_BROKER_URL",
        "HUB_SECRET_KEY",
        "HUB_TOKEN_KEY",
        "HUB_ADMIN_PASSWORD",
        "HUB_S3_ACCESS_KEY_ID",
        "HUB_S3_SECRET_ACCESS_KEY",
    }
    assert shared_secrets <= set(secret["data"])
    assert {"HUB_STORAGE", "HUB_S3_BUCKET", "HUB_S3_REGION"} <= set(config["data"])
    assert config["data"]["HUB_STORAGE"] == "s3"
    # Nothing secret in the ConfigMap, nothing in both.
    assert not set(config["data"]) & set(secret["data"])
