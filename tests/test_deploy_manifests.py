"""The deployment files: linted, rendered for every overlay, validated against Kubernetes schemas,
and checked for the properties that matter in production."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from conftest import ROOT

BIN = Path(sys.executable).parent
OVERLAYS = ["dev", "prod", "chaos", "example-own-server", "bridge-example", "gateway-example"]
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


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # what this reader understands; anything else would be misread
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


class Pod(NamedTuple):
    namespace: str
    labels: dict[str, str]


def egress_allowed(objects: list[dict[str, Any]], source: dict[str, str], port: int, to: str | Pod, protocol: str = "TCP") -> bool:
    """Whether the rendered NetworkPolicies let a pod labelled `source` open `port` to an address outside the
    cluster (`to` an IP) or to a pod in it: the union of every policy selecting the pod, as Kubernetes reads them."""
    policies = [o for o in objects if o["kind"] == "NetworkPolicy" and "Egress" in o["spec"].get("policyTypes", [])
                and _selects(o["spec"]["podSelector"], source)]
    assert policies, "no egress policy selects the pod: everything would be open"
    for policy in policies:
        for rule in policy["spec"].get("egress") or []:
            ports = rule.get("ports")
            if ports and not any(p.get("protocol", "TCP") == protocol and p["port"] == port for p in ports):
                continue
            for peer in rule.get("to") or [{}]:
                if not peer:
                    return True
                if "ipBlock" in peer and isinstance(to, str):
                    block, address = peer["ipBlock"], ip_address(to)
                    if address in ip_network(block["cidr"]) and not any(address in ip_network(c) for c in block.get("except", [])):
                        return True
                elif "ipBlock" not in peer and isinstance(to, Pod):
                    namespace = {"kubernetes.io/metadata.name": to.namespace}
                    in_namespace = (_selects(peer["namespaceSelector"], namespace) if "namespaceSelector" in peer
                                    else to.namespace == policy["metadata"]["namespace"])
                    if in_namespace and _selects(peer.get("podSelector", {}), to.labels):
                        return True
    return False


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
    server = pod_labels(deployment)
    assert egress_allowed(objects, server, 443, "203.0.113.10")  # the issuer's keys, at its placeholder address
    assert not egress_allowed(objects, server, 443, "93.184.216.34")  # tools' HTTPS stays closed until opened


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


@pytest.mark.parametrize("overlay", ["prod", "example-own-server"])
def test_checkov_finds_nothing(overlay: str, tmp_path: Path) -> None:
    """Policy checks on the rendered production manifests and the Dockerfile: zero failures; any skip is justified inline."""
    (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(render(overlay)))
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


POSTGRES = Pod("data", {"app.kubernetes.io/name": "postgres"})
REDIS = Pod("data", {"app.kubernetes.io/name": "redis"})
KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
ISTIOD = Pod("istio-system", {"app": "istiod"})
COLLECTOR = Pod("observability", {"app.kubernetes.io/name": "opentelemetry-collector"})
PUBLIC = "93.184.216.34"


def test_egress_reaches_each_dependency_and_nothing_else() -> None:
    objects = render("prod")
    server = pod_labels(one(objects, "Deployment", "bosun"))
    migrate = pod_labels(one(objects, "Job", "bosun-migrate"))
    for source in (server, migrate):
        assert egress_allowed(objects, source, 53, KUBE_DNS, protocol="UDP")
        assert egress_allowed(objects, source, 5432, POSTGRES)
        assert not egress_allowed(objects, source, 443, PUBLIC)
    assert egress_allowed(objects, server, 6379, REDIS) and egress_allowed(objects, server, 15012, ISTIOD)
    assert egress_allowed(objects, server, 4317, COLLECTOR) and egress_allowed(objects, server, 4318, COLLECTOR)
    assert not egress_allowed(objects, server, 5432, "10.20.30.5")  # no managed database until an overlay says so
    assert not egress_allowed(objects, server, 80, "169.254.169.254")  # the cloud metadata endpoint
    assert not egress_allowed(objects, server, 6379, Pod("other", REDIS.labels))
    assert not egress_allowed(objects, migrate, 6379, REDIS)  # the migration Job talks to PostgreSQL only
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"}
    assert {"bosun-egress-database", "bosun-egress-redis", "bosun-egress-otlp", "bosun-egress-token-issuer",
            "bosun-egress-https"} <= names  # one per dependency, so that an overlay patches each alone (docs/deployment.md)


def test_the_example_overlay_moves_each_egress_where_it_says() -> None:
    objects = render("example-own-server")
    server = pod_labels(one(objects, "Deployment", "bosun"))
    assert egress_allowed(objects, server, 5432, "10.20.30.5") and not egress_allowed(objects, server, 5432, POSTGRES)
    assert egress_allowed(objects, server, 6380, "10.20.31.5") and not egress_allowed(objects, server, 6379, REDIS)
    monitoring = COLLECTOR._replace(namespace="monitoring")
    assert egress_allowed(objects, server, 4318, monitoring) and not egress_allowed(objects, server, 4317, monitoring)
    assert egress_allowed(objects, server, 443, "198.51.100.20") and not egress_allowed(objects, server, 443, "203.0.113.10")
    assert egress_allowed(objects, server, 443, "192.0.2.7")  # the API the tools call, opened narrowly
    assert not egress_allowed(objects, server, 443, PUBLIC)


def test_own_server_overlay_changes_the_image_and_the_arguments_only() -> None:
    prod, own = render("prod"), render("example-own-server")
    expected = {("Deployment", "bosun"): ["serve", "my_server/server.py"],
                ("Job", "bosun-migrate"): ["db", "upgrade", "my_server/server.py"]}
    for (kind, name), args in expected.items():
        theirs, ours = one(own, kind, name), one(prod, kind, name)
        container, original = theirs["spec"]["template"]["spec"]["containers"][0], ours["spec"]["template"]["spec"]["containers"][0]
        assert container.pop("args") == args and original.pop("args") != args
        assert container.pop("image").startswith("registry.example.com/team/my-server@sha256:")
        original.pop("image")
        assert theirs == ours, kind  # probes, drain, security context, mounts: all the base's


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_url_comes_from_the_secret_not_a_configmap(overlay: str) -> None:
    objects = render(overlay)
    for config in (o for o in objects if o["kind"] == "ConfigMap"):
        assert not {"REDIS_URL", "BOSUN_REDIS_URL"} & set(config.get("data", {})), config["metadata"]["name"]
    secrets_dir = one(objects, "ConfigMap", "bosun-config")["data"]["BOSUN_SECRETS_DIR"]
    generated = [o for o in objects if o["kind"] == "Secret"]  # dev only; elsewhere the secret manager's
    secret = generated[0]["metadata"]["name"] if generated else "bosun-secrets"
    assert all("redis_url" in o["data"] for o in generated)
    for kind, name in (("Deployment", "bosun"), ("Job", "bosun-migrate")):
        pod = one(objects, kind, name)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert not [env for env in container.get("env", []) if "REDIS" in env["name"] and "value" in env]
        volume = next(v["name"] for v in pod["volumes"] if v.get("secret", {}).get("secretName") == secret)
        assert {"name": volume, "mountPath": secrets_dir, "readOnly": True} in container["volumeMounts"], kind


@pytest.mark.parametrize("source", ["secret.example.yaml", "the dev overlay's Secret"])
def test_the_server_reads_redis_url_from_the_secret(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Secret's key is the file name the settings loader looks for: the URL arrives, password and all."""
    from bosun.config import load_settings

    if source == "secret.example.yaml":
        data = yaml.safe_load((ROOT / "deploy/k8s/base/secret.example.yaml").read_text())["stringData"]
    else:
        encoded = one(render("dev"), "Secret")["data"]
        data = {key: base64.b64decode(value).decode() for key, value in encoded.items()}
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "redis_url").write_text(data["redis_url"])  # as the kubelet mounts the Secret's key
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("REDIS_URL", "BOSUN_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOSUN_SECRETS_DIR", str(tmp_path / "secrets"))
    assert data["redis_url"].startswith("redis://")
    assert load_settings().redis_url.get_secret_value() == data["redis_url"]


def test_readiness_is_read_per_pod_not_per_process() -> None:
    """With --workers N every process exports its own mcp_ready (label pid): alerts and the dashboard take one value per pod."""
    objects = render("prod")
    rules = [rule["expr"] for group in one(objects, "PrometheusRule")["spec"]["groups"] for rule in group["rules"]]
    import json

    dashboard = json.loads(one(objects, "ConfigMap", "bosun-grafana-dashboard")["data"]["grafana-dashboard.json"])
    targets = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    readers = [expr for expr in rules + targets if "mcp_ready" in expr]
    assert len(readers) >= 2
    assert all("max by (namespace, pod)" in expr or "max by (pod)" in expr for expr in readers), readers
