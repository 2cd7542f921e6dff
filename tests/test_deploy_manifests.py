"""The deployment files: linted, rendered for every overlay, validated against Kubernetes schemas,
and checked for the properties that matter in production."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT

BIN = Path(sys.executable).parent
OVERLAYS = ["dev", "prod", "chaos"]
KUBERNETES_VERSIONS = ["1.33", "1.35"]


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl (with kustomize) is part of this machine's image"
    run = subprocess.run([kubectl, "kustomize", f"deploy/k8s/overlays/{overlay}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return [document for document in yaml.safe_load_all(run.stdout) if document]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def test_dockerfile_passes_hadolint() -> None:
    run = subprocess.run([str(BIN / "hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_yaml_passes_yamllint() -> None:
    run = subprocess.run([str(BIN / "yamllint"), "-s", "compose.yaml", "deploy/", ".yamllint.yaml"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_overlays_validate_strictly(overlay: str, version: str, tmp_path: Path) -> None:
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(yaml.safe_dump_all(render(overlay)))
    run = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "--no-warn", "-k", version, str(rendered)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_production_deployment_is_hardened_and_probed_right() -> None:
    objects = render("prod")
    deployment = one(objects, "Deployment", "bosun")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"].startswith("registry.example.com/platform/bosun@sha256:")  # pinned by digest
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"  # never the database
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/startup"
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault" and pod["securityContext"]["runAsNonRoot"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"] and security["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    config = one(objects, "ConfigMap", "bosun-config")["data"]
    drain, grace = float(config["BOSUN_DRAIN_SECONDS"]), float(config["BOSUN_GRACEFUL_TIMEOUT"])
    assert pod["terminationGracePeriodSeconds"] > drain + grace
    tmp = next(volume for volume in pod["volumes"] if volume["name"] == "tmp")
    assert tmp["emptyDir"]["sizeLimit"]
    assert one(objects, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert one(objects, "ServiceAccount")["automountServiceAccountToken"] is False
    assert not [o for o in objects if o["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]
    assert not [o for o in objects if o["kind"] == "Secret"]  # production secrets come from a secret manager
    # Bound to 0.0.0.0, so it must authenticate (the server refuses to start open off loopback).
    assert config["BOSUN_HOST"] == "0.0.0.0" and config.get("BOSUN_AUTH") != "none"
    assert config["BOSUN_AUTH_ISSUER"].startswith("https://") and config["BOSUN_RESOURCE_URL"].startswith("https://")
    assert config["BOSUN_AUTH_API_KEYS_FILE"].startswith("/run/secrets/bosun/")
    egress = one(objects, "NetworkPolicy", "bosun-egress")["spec"]["egress"]
    assert any(port["port"] == 443 for rule in egress for port in rule["ports"])  # the issuer's keys


def test_autoscaling_disruption_and_mesh_policy() -> None:
    objects = render("prod")
    hpa = one(objects, "HorizontalPodAutoscaler")
    metrics = {metric["type"]: metric for metric in hpa["spec"]["metrics"]}
    assert metrics["Pods"]["pods"]["metric"]["name"] == "mcp_requests_per_second"
    assert "behavior" in hpa["spec"]
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert one(objects, "VerticalPodAutoscaler")["spec"]["updatePolicy"]["updateMode"] == "Off"  # no fight with the HPA
    virtual = one(objects, "VirtualService")
    assert all("fault" not in route for route in virtual["spec"]["http"])
    destination = one(objects, "DestinationRule")["spec"]["trafficPolicy"]
    assert "outlierDetection" in destination and "circuitBreaker" not in destination
    assert destination["loadBalancer"]["simple"] == "LEAST_REQUEST"
    assert one(objects, "PeerAuthentication")["spec"]["mtls"]["mode"] == "STRICT"
    adapter = yaml.safe_load(one(objects, "ConfigMap", "bosun-prometheus-adapter-rules")["data"]["rules.yaml"])
    assert adapter["rules"][0]["name"]["as"] == "mcp_requests_per_second"
    deny = one(objects, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}


def test_fault_injection_only_in_the_chaos_overlay() -> None:
    chaos = one(render("chaos"), "VirtualService")
    assert "fault" in chaos["spec"]["http"][0]
    for overlay in ("dev", "prod"):
        assert all("fault" not in route for route in one(render(overlay), "VirtualService")["spec"]["http"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_their_crd_schemas(overlay: str, tmp_path: Path) -> None:
    import json

    node = shutil.which("node")
    assert node is not None, "run through scripts/test.sh, which puts Node 22 on PATH"
    rendered = tmp_path / f"{overlay}.json"
    rendered.write_text(json.dumps(render(overlay)))
    run = subprocess.run([node, "validate.mjs", str(rendered)], cwd=ROOT / "deploy" / "validate", capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    # VirtualService, DestinationRule, PeerAuthentication, VPA, ServiceMonitor, PrometheusRule
    assert json.loads(run.stdout)["checked"] == 6


def test_checkov_finds_nothing(tmp_path: Path) -> None:
    """Policy checks on the rendered production manifests and the Dockerfile: zero failures; any skip is justified inline."""
    (tmp_path / "prod.yaml").write_text(yaml.safe_dump_all(render("prod")))
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    run = subprocess.run([str(checkov), "-d", str(tmp_path), "--framework", "kubernetes", "dockerfile", "--compact",
                          "--quiet", "--skip-download", "-o", "json"], capture_output=True, text=True, timeout=600)
    import json

    reports = json.loads(run.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    summaries = {report["check_type"]: report["summary"] for report in reports}
    assert set(summaries) == {"kubernetes", "dockerfile"}, run.stdout[-2000:]
    assert all(summary["failed"] == 0 for summary in summaries.values()), summaries
    assert summaries["kubernetes"]["passed"] > 100 and summaries["dockerfile"]["passed"] > 50


def test_compose_gates_start_order_and_hardens_every_service() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["server"]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"},
                                                 "redis": {"condition": "service_healthy"}}
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    for name in ("server", "migrate", "redis"):
        service = services[name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    for name in ("server", "migrate"):
        assert not any("DATABASE_URL" in key or "PASSWORD" in key for key in services[name]["environment"]), name
        assert "database_url" in services[name]["secrets"]
    assert all(":" in service["image"] and not service["image"].endswith(":latest") for service in services.values())
    server = services["server"]
    assert server["environment"]["BOSUN_AUTH_API_KEYS_FILE"] == "/run/secrets/api_keys" and "api_keys" in server["secrets"]
