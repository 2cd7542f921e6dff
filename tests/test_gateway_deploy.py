"""The gateway as deployed (deploy/k8s/overlays/gateway-example): the file the ConfigMap ships, checked and served.

The file is taken from the rendered overlay, not from the source tree, so what is checked is what a cluster gets.
Its paths are the pod's (/opt/mcp-servers, /data/..., /run/secrets/gateway); each test relocates them into a temporary
directory, and changes nothing else. `bosun check` then runs with a PATH that holds only stand-ins named like the
file's commands: the check is about the file (keys, prefixes, collisions, names, limits), not about this machine.
The second test serves the same file with the real servers behind those commands (the npm packages of
tests/bridge, mcp-server-time of .venv-children, a remote Bosun for the remote backend) and a caller's token,
which shows the commands, the scopes and the tool filters do what the file says.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from bridge_children import CHILDREN_PYTHON, MODULES, NODE, _npx
from remote_bridge import start_remote_bosun
from test_deploy_manifests import one, render

from bosun.security.apikeys import hash_key, new_key
from conftest import BOSUN, ROOT, modern_call, start_server, stop_server

OVERLAY = ROOT / "deploy/k8s/overlays/gateway-example"
FILE_IN_POD = "/etc/bosun/gateway/gateway.json"
SECRETS_IN_POD = "/run/secrets/gateway"
REMOTE_URL = "https://tickets.example.com/mcp"


def shipped() -> tuple[str, list[dict[str, Any]]]:
    """gateway.json as the rendered ConfigMap holds it, and the rendered objects."""
    objects = render("gateway-example")
    maps = [o for o in objects if o["kind"] == "ConfigMap" and "gateway.json" in o.get("data", {})]
    assert len(maps) == 1, [o["metadata"]["name"] for o in maps]
    return str(maps[0]["data"]["gateway.json"]), objects


def relocate(text: str, places: dict[str, Path | str]) -> str:
    """The file with each of the pod's paths (and the remote's URL) replaced; every one must occur."""
    for pod_path, here in places.items():
        assert pod_path in text, f"{pod_path} is no longer in the shipped file: update this test"
        text = text.replace(pod_path, str(here))
    return text


def executable(path: Path, script: str) -> None:
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def secret_keys() -> dict[str, str]:
    return dict(yaml.safe_load((OVERLAY / "secret.example.yaml").read_text())["stringData"])


def check(path: Path, path_variable: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BOSUN, "check", str(path)], capture_output=True, text=True, timeout=60, cwd=path.parent,
                          env={"PATH": path_variable, "HOME": str(path.parent)})


def test_the_pod_serves_the_file_the_configmap_holds_with_its_secrets_and_data_mounted() -> None:
    text, objects = shipped()
    assert text == (OVERLAY / "gateway.json").read_text()
    pod = one(objects, "Deployment", "bosun")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["serve", FILE_IN_POD]
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    holder = volumes[mounts[str(Path(FILE_IN_POD).parent)]["name"]]
    assert mounts[str(Path(FILE_IN_POD).parent)]["readOnly"] is True
    configmap = holder["configMap"]["name"]
    assert configmap.startswith("bosun-gateway-") and one(objects, "ConfigMap", configmap)  # the hash suffix: see below
    # Every credential the file names is a key of the backends' Secret, mounted read-only where the file looks.
    secret_mount = mounts[SECRETS_IN_POD]
    assert secret_mount["readOnly"] is True
    assert volumes[secret_mount["name"]]["secret"]["secretName"] == "bosun-gateway-secrets"
    servers = json.loads(text)["mcpServers"]
    named = [path for backend in servers.values() for path in backend.get("headerFiles", {}).values()]
    assert named and all(path.startswith(SECRETS_IN_POD + "/") for path in named), named
    assert {Path(path).name for path in named} <= set(secret_keys())
    assert not [o for o in objects if o["kind"] == "Secret"], "the Secret comes from a secret manager, not the overlay"
    # The directories the children write are volumes, not the read-only root.
    assert {"/data/files", "/data/memory"} <= {path for path, mount in mounts.items() if not mount.get("readOnly")}
    # OAuth in front (the base's settings), and every backend asks for scopes of its own.
    config = one(objects, "ConfigMap", "bosun-config")["data"]
    assert config["BOSUN_AUTH_ISSUER"].startswith("https://") and config.get("BOSUN_AUTH") != "none"
    assert all(backend.get("scopes") for backend in servers.values()), servers


def test_the_dashboard_repeats_a_row_per_backend_and_each_of_its_panels_reads_that_backend_only() -> None:
    """The row repeats over $bridge (every backend by default); a panel in it that did not select `bridge=~"$bridge"`
    would show every backend in every row. `=~`, not `=`: Grafana regex-escapes a multi-value variable's value
    (`my.server` becomes `my\\.server`), which an exact match would never find. The expressions themselves are checked
    against the metrics contract and a live Prometheus (test_metrics_contract.py, test_prometheus_pipeline.py)."""
    dashboard = json.loads((ROOT / "deploy/k8s/base/grafana-dashboard.json").read_text())
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "bridge")
    assert variable["query"] == 'label_values(bosun_bridge_up{namespace="$namespace"}, bridge)'
    assert variable["multi"] and variable["includeAll"] and variable["current"]["value"] == ["$__all"]
    panels = dashboard["panels"]
    [start] = [index for index, panel in enumerate(panels) if panel["type"] == "row" and panel.get("repeat") == "bridge"]
    row = panels[start]
    assert row["collapsed"] is False and "$bridge" in row["title"]
    inside = panels[start + 1:]  # an open row holds the panels that follow it, up to the next row
    assert inside and all(panel["type"] != "row" for panel in inside)
    assert all("$bridge" not in json.dumps(panel) for panel in panels[:start])  # the dashboard above is as it was
    exprs = {panel["title"]: [target["expr"] for target in panel["targets"]] for panel in inside}
    for title, expressions in exprs.items():
        for expr in expressions:
            selectors = [part.split("}", 1)[0] for part in expr.split("{")[1:]]
            assert selectors and all('bridge=~"$bridge"' in s and 'namespace="$namespace"' in s for s in selectors), (title, expr)
    read = " ".join(expr for expressions in exprs.values() for expr in expressions)
    for metric in ("bosun_bridge_up", "bosun_bridge_calls_total", "bosun_bridge_call_seconds_bucket",
                   "bosun_bridge_restarts_total", "bosun_bridge_crash_looping", "bosun_bridge_children",
                   "bosun_bridge_calls_in_flight"):
        assert metric in read, metric
    latency = next(expressions for expressions in exprs.values() if "bosun_bridge_call_seconds_bucket" in expressions[0])
    assert [expr.split(",", 1)[0] for expr in latency] == [f"histogram_quantile({q}" for q in ("0.5", "0.95", "0.99")]
    bottom = {panel["gridPos"]["y"] + panel["gridPos"]["h"] for panel in panels[:start]}
    assert row["gridPos"]["y"] == max(bottom)  # below the dashboard's own panels, overlapping none


def test_a_change_to_the_file_renames_the_configmap_and_so_rolls_the_pods(tmp_path: Path) -> None:
    """The gateway reads its file at start only: the ConfigMap's name carries the file's hash, the pod template names
    it, so a changed file is a changed pod template (a rollout), and an unchanged one is not."""
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl (with kustomize) is part of this machine's image"
    copy = tmp_path / "k8s"
    shutil.copytree(ROOT / "deploy/k8s", copy)
    overlay = copy / "overlays/gateway-example"

    def template() -> dict[str, Any]:
        run = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        objects = [document for document in yaml.safe_load_all(run.stdout) if document]
        return dict(one(objects, "Deployment", "bosun")["spec"]["template"])

    before = template()
    assert template() == before
    changed = json.loads((overlay / "gateway.json").read_text())
    changed["pageSize"] = 100
    (overlay / "gateway.json").write_text(json.dumps(changed, indent=2))
    after = template()
    names = [next(v["configMap"]["name"] for v in t["spec"]["volumes"] if v["name"] == "gateway") for t in (before, after)]
    assert names[0] != names[1] and all(name.startswith("bosun-gateway-") for name in names), names


def test_bosun_check_accepts_the_shipped_file(tmp_path: Path) -> None:
    """No unknown key, no bad or colliding prefix, valid tool names and rate limits: `bosun check` says ok for each
    backend. A misspelt key in the same copy is refused, so the check is live in this setup."""
    text, _ = shipped()
    servers = json.loads(text)["mcpServers"]
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    commands = {backend["command"] for backend in servers.values() if "command" in backend}
    assert commands == {"npx", "mcp-server-time"}, commands  # bare names, found on the image's PATH
    for command in commands:
        executable(stand_ins / command, "#!/bin/sh\nexit 0\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for key, value in secret_keys().items():
        (secrets / key).write_text(value + "\n")
    path = tmp_path / "gateway.json"
    path.write_text(relocate(text, {SECRETS_IN_POD: secrets}))
    run = check(path, str(stand_ins))
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines == [
        "ok   everything: prefix 'everything', npx, shared",
        "ok   fs: prefix 'fs', npx, shared",
        "ok   memory: prefix 'memory', npx, principal",
        "ok   time: prefix 'time', mcp-server-time, shared, required",
        f"ok   tickets: prefix 'tickets', remote {REMOTE_URL}, shared",
    ], lines
    broken = json.loads(path.read_text())
    broken["mcpServers"]["fs"]["denyTool"] = broken["mcpServers"]["fs"].pop("denyTools")
    path.write_text(json.dumps(broken))
    refused = check(path, str(stand_ins))
    assert refused.returncode == 2 and "mcpServers.fs.denyTool: Extra inputs are not permitted" in refused.stderr, refused.stderr


def _tools(http: httpx.Client, url: str, key: str) -> set[str]:
    http.headers["authorization"] = f"Bearer {key}"
    names: set[str] = set()
    cursor = None
    while True:
        answer = modern_call(http, url, "tools/list", {"cursor": cursor} if cursor else {})
        assert answer.status_code == 200, answer.text
        page = answer.json()["result"]
        names |= {tool["name"] for tool in page["tools"]}
        cursor = page.get("nextCursor")
        if not cursor:
            return names


def _call(http: httpx.Client, url: str, key: str, name: str, arguments: dict[str, Any]) -> httpx.Response:
    http.headers["authorization"] = f"Bearer {key}"
    return modern_call(http, url, "tools/call", {"name": name, "arguments": arguments})


@pytest.fixture()
def gateway_keys(tmp_path: Path) -> dict[str, str]:
    """API keys for the gateway: `wide` holds every backend's scopes, `narrow` the base's `mcp` and two backends'."""
    keys = {"wide": new_key(), "narrow": new_key()}
    scopes = {"wide": "mcp demo files:read files:write memory time tickets", "narrow": "mcp files:read time"}
    (tmp_path / "keys").write_text("".join(f"{name} {hash_key(key)} {scopes[name]}\n" for name, key in keys.items()))
    return keys


def test_the_shipped_file_serves_its_five_backends_with_the_scopes_and_filters_it_names(
        tmp_path: Path, gateway_keys: dict[str, str]) -> None:
    text, objects = shipped()
    assert CHILDREN_PYTHON.exists() and MODULES.exists(), "scripts/setup.sh dev installs the bridge tests' servers"
    # The image's commands, from this machine: the real npx (through its CLI script, as bridge_children runs it) and
    # mcp-server-time; the packages the image installs under /opt/mcp-servers are tests/bridge's.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "npx", "#!/bin/sh\nexec " + " ".join(f"'{part}'" for part in _npx()) + ' "$@"\n')
    (bin_dir / "mcp-server-time").symlink_to(CHILDREN_PYTHON.parent / "mcp-server-time")
    # The remote backend: a Bosun that takes only the credential the Secret's file holds.
    remote_key = new_key()
    (tmp_path / "remote-keys").write_text(f"gateway {hash_key(remote_key)} mcp\n")
    remote = start_remote_bosun(env={"BOSUN_AUTH_API_KEYS_FILE": str(tmp_path / "remote-keys"), "BOSUN_AUTH_SCOPES": "mcp"})
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for key in secret_keys():
        (secrets / key).write_text(f"Bearer {remote_key}\n")
    for directory in ("files", "memory", "npm"):
        (tmp_path / directory).mkdir()
    path = tmp_path / "gateway.json"
    path.write_text(relocate(text, {"/opt/mcp-servers": MODULES.parent, "/data/files": tmp_path / "files",
                                    "/data/memory": tmp_path / "memory", "/tmp/npm": tmp_path / "npm",
                                    SECRETS_IN_POD: secrets, REMOTE_URL: remote.url}))
    auth = one(objects, "ConfigMap", "bosun-config")["data"]["BOSUN_AUTH_SCOPES"]
    running = start_server(str(path), log=tmp_path / "gateway.log", env={
        "PATH": os.pathsep.join([str(bin_dir), str(Path(NODE).parent), "/usr/bin", "/bin"]),
        "BOSUN_AUTH_API_KEYS_FILE": str(tmp_path / "keys"), "BOSUN_AUTH_SCOPES": auth})
    try:
        with httpx.Client(timeout=30) as http:
            wide = _tools(http, running.url, gateway_keys["wide"])
            prefixes = {name.split("_", 1)[0] for name in wide}
            assert prefixes == {"everything", "fs", "memory", "time", "tickets"}, sorted(wide)
            assert {"fs_read_text_file", "time_get_current_time", "memory_create_entities", "everything_echo",
                    "tickets_echo"} <= wide
            for left_out in ("everything_get-env", "everything_gzip-file-as-resource", "fs_move_file",  # denyTools
                             "everything_trigger-long-running-operation"):  # hiddenTools
                assert left_out not in wide, left_out
            narrow = _tools(http, running.url, gateway_keys["narrow"])
            assert {name.split("_", 1)[0] for name in narrow} == {"fs", "time"}, sorted(narrow)
            written = _call(http, running.url, gateway_keys["narrow"], "fs_write_file",
                            {"path": str(tmp_path / "files" / "a.txt"), "content": "x"})
            assert written.status_code == 403 and "files:write" in written.text, written.text
            timed = _call(http, running.url, gateway_keys["narrow"], "time_get_current_time", {"timezone": "UTC"})
            assert timed.status_code == 200 and "UTC" in timed.text, timed.text
            echoed = _call(http, running.url, gateway_keys["wide"], "tickets_echo", {"text": "through the Secret"})
            assert echoed.status_code == 200 and "through the Secret" in echoed.text, echoed.text
            created = _call(http, running.url, gateway_keys["wide"], "memory_create_entities",
                            {"entities": [{"name": "gateway", "entityType": "service", "observations": ["deployed"]}]})
            assert created.status_code == 200 and "isError" not in created.json()["result"], created.text
            assert [file.suffix for file in (tmp_path / "memory").iterdir()] == [".jsonl"]  # one file for this caller
    finally:
        stop_server(running)
        stop_server(remote)
    assert remote_key not in (tmp_path / "gateway.log").read_text()
