"""The bridge's container launcher (issue 24, item 6), for real: podman runs the project's image, built on this
machine (tests/container_image.py: once per run, shared with tests/test_container.py), with a Bosun stdio server
inside it (tests/servers/container_child.py, mounted read-only), behind a Bosun server that the official MCP client
calls. Every claim is read from the kernel inside the container (its tools report /proc, /sys and errno), from
/proc on the host, or from `podman ps`: what the container may do, what it can see, what the host's `ps` shows, and
that no container outlives its child, however the child ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from bridge_children import start_bridge
from mcp import Client
from polling import eventually
from test_bridge_lifecycle import call, text_of

from conftest import ROOT, Running, stop_server

if TYPE_CHECKING:
    from container_image import BuiltImage

pytest_plugins = ("container_image",)  # `bosun_image`: the run's one build of the image

CHILD = ROOT / "tests" / "servers" / "container_child.py"
COMMAND = ["serve", "/probe/container_child.py", "--transport", "stdio"]  # the image's entrypoint is `tini -- bosun`
SECRET = "s3cret-" + secrets.token_hex(12)
# What podman mounts in every container by itself: the root, /dev, /proc and /sys with their masks and cgroups, the
# files it writes (hosts, hostname, .containerenv) and its init. Anything else came from the bridge's options.
PODMAN_OWN = re.compile(r"^(/|/dev(/.*)?|/proc(/.*)?|/sys(/.*)?|/etc/(hosts|hostname|resolv\.conf)|/run/\.containerenv"
                        r"|/run/podman-init)$")


class Bridged:
    def __init__(self, running: Running, log: Path, name: str, image: BuiltImage, data: Path) -> None:
        self.running, self.log, self.name, self.image, self.data = running, log, name, image, data

    def containers(self, *, all_states: bool = True) -> list[str]:
        """The names of this bridge's containers, as podman lists them (stopped ones too, unless asked not)."""
        listed = self.image.podman("ps", *(["--all"] if all_states else []), "--filter", f"label=io.bosun.bridge={self.name}",
                                   "--format", "{{.Names}}")
        assert listed.returncode == 0, listed.stderr
        return listed.stdout.split()

    def started_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(rf"bridge {self.name}: started pid (\d+)", self.log.read_text())]

    def processes(self) -> list[str]:
        """Every running process whose command line names one of this bridge's containers: podman clients, the
        guards' watchers, conmon, a `podman rm`."""
        mark = f"bosun-{self.name}-".encode()
        return [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()
                and mark in _read(Path(entry.path, "cmdline")) and _running(entry.name)]


def bridge_in_container(image: BuiltImage, directory: Path, container: dict[str, Any] | None = None,
                        **options: object) -> Bridged:
    """`bosun serve bosun.bridged:server`, its bridge running tests/servers/container_child.py in the image."""
    name = "ctr-" + secrets.token_hex(4)  # the containers' label: this test's containers, and no other's
    data = directory / "data"
    data.mkdir(mode=0o777)
    data.chmod(0o777)  # the image's user (10001) writes here through the read-write mount
    secret = directory / "api-token"
    secret.write_text(SECRET + "\n")
    described = {"image": image.name, "pull": "never",
                 "mounts": [f"{CHILD}:/probe/container_child.py", f"{data}:/data:rw"], **(container or {})}
    log = directory / "server.log"
    running = start_bridge(COMMAND, log=log, name=name, container=json.dumps(described),
                           secret_files={"API_TOKEN": str(secret)}, env={"CONTAINERS_CONF": image.containers_conf},
                           **options)
    return Bridged(running, log, name, image, data)


async def _calls(url: str, mode: str, *calls: tuple[str, dict[str, Any]]) -> tuple[str, set[str], list[Any]]:
    """One official client's session: its era, the tools it lists, and each call's structured result (a plain value's
    `{"result": value}` unwrapped)."""
    async with Client(url, mode=mode) as client:  # type: ignore[arg-type, unused-ignore]
        tools = {tool.name for tool in (await client.list_tools()).tools}
        results = []
        for name, arguments in calls:
            result = await client.call_tool(name, arguments)
            assert not result.is_error and result.structured_content is not None, result
            found = result.structured_content
            results.append(found["result"] if set(found) == {"result"} else found)
        return str(client.protocol_version), tools, results


def use(bridged: Bridged, *calls: tuple[str, dict[str, Any]], mode: str = "auto") -> list[Any]:
    return asyncio.run(_calls(bridged.running.url, mode, *calls))[2]


def gone(bridged: Bridged, within: float, what: str) -> float:
    """Seconds until podman lists none of the bridge's containers (failing after `within`); then no process that
    names one is left running either (the watchers end once they have removed theirs)."""
    started = time.monotonic()
    eventually(lambda: not bridged.containers(), within, what)
    took = time.monotonic() - started
    eventually(lambda: not bridged.processes(), 10, f"every process naming one of its containers ended ({what})")
    return took


@pytest.fixture(scope="module")
def confined(bosun_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridged]:
    """One bridge, caps set below podman's and the bridge's defaults so that each is seen to be applied."""
    bridged = bridge_in_container(bosun_image, tmp_path_factory.mktemp("confined"),
                                  {"memory": "192m", "cpus": 0.5, "pids": 64})
    yield bridged
    stop_server(bridged.running)
    gone(bridged, 15, "the confined bridge's container removed after the server stopped")


@pytest.mark.parametrize(("mode", "era"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_tools_work_end_to_end_through_a_container(confined: Bridged, mode: str, era: str) -> None:
    version, tools, results = asyncio.run(_calls(confined.running.url, mode, ("add", {"a": 2, "b": 40})))
    assert version == era
    assert {"add", "confinement", "connect", "write", "exists", "digest"} <= tools
    assert results == [42]
    assert len(confined.containers(all_states=False)) == 1  # the shared child: one container, running
    argv = Path(f"/proc/{confined.started_pids()[-1]}/cmdline").read_bytes().split(b"\0")
    assert argv[:2] == [b"podman", b"run"]  # the bridge's child is the podman client itself (the guard exec'd it)


def test_the_container_is_confined(confined: Bridged) -> None:
    found, root, tmp, probe, data = use(confined, ("confinement", {}), ("write", {"path": "/written"}),
                                        ("write", {"path": "/tmp/written"}), ("write", {"path": "/probe/written"}),
                                        ("write", {"path": "/data/written"}))
    assert found["cap_eff"] == found["cap_prm"] == found["cap_bnd"] == "0000000000000000"  # every capability dropped
    assert found["no_new_privs"] == "1"
    assert found["uid"] == 10001  # the image's own user
    assert int(found["memory_limit"]) == 192 * 2**20
    assert found["pids_limit"] == "64"
    assert found["cpu_quota"] in ("50000", "50000 100000") and found["cpu_period"] in (None, "100000")  # half a CPU
    assert (root, tmp, probe, data) == ("EROFS", "ok", "EROFS", "ok")  # read-only root and mount; tmpfs; rw mount
    assert (confined.data / "written").read_text() == "written"  # the read-write mount is the host's directory


def test_only_the_listed_mounts_are_visible(confined: Bridged) -> None:
    (found,) = use(confined, ("confinement", {}))
    assert {mount for mount in found["mounts"] if not PODMAN_OWN.match(mount)} == {"/probe/container_child.py", "/data",
                                                                                      "/tmp"}
    seen = use(confined, *(("exists", {"path": path}) for path in (str(ROOT), str(confined.data), "/data/written",
                                                                    "/var/lib/containers", "/probe/container_child.py")))
    assert seen == [False, False, True, False, True]


def test_the_container_has_no_network(confined: Bridged) -> None:
    listener = socket.create_server(("0.0.0.0", 0))  # the host's: reachable from the host, never from the container
    port = listener.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # the host reaches it: a failure from inside is the container's
        found, own_loopback, slirp_host, outside = use(
            confined, ("confinement", {}), ("connect", {"host": "127.0.0.1", "port": port}),
            ("connect", {"host": "10.0.2.2", "port": port}), ("connect", {"host": "192.0.2.1", "port": 443}))
    finally:
        listener.close()
    assert found["interfaces"] == ["lo"]  # no network namespace but its own loopback
    assert own_loopback == "ECONNREFUSED"  # 127.0.0.1 in there is the container's, not the host's
    assert slirp_host == outside == "ENETUNREACH"  # no route anywhere


def test_a_secret_goes_in_by_name_and_never_onto_a_command_line(confined: Bridged) -> None:
    (seen,) = use(confined, ("digest", {"variable": "API_TOKEN"}))
    assert seen == hashlib.sha256(SECRET.encode()).hexdigest()  # the container has it
    podman = confined.started_pids()[-1]
    argv = Path(f"/proc/{podman}/cmdline").read_bytes().split(b"\0")
    assert b"--env" in argv and argv[argv.index(b"API_TOKEN") - 1] == b"--env"
    assert f"API_TOKEN={SECRET}".encode() in Path(f"/proc/{podman}/environ").read_bytes().split(b"\0")
    on_command_lines = []
    for entry in os.scandir("/proc"):  # every process on the host: podman, its guard's watcher, conmon, the container
        if entry.name.isdigit():
            try:
                if SECRET.encode() in Path(entry.path, "cmdline").read_bytes():
                    on_command_lines.append(entry.name)
            except OSError:
                continue
    assert on_command_lines == []
    assert SECRET not in confined.log.read_text()


def test_a_killed_container_is_restarted_and_calls_recover(bosun_image: BuiltImage, tmp_path: Path) -> None:
    bridged = bridge_in_container(bosun_image, tmp_path, backoff_initial=0.2)
    try:
        assert use(bridged, ("add", {"a": 1, "b": 1})) == [2]
        (first,) = bridged.containers()
        killed = bosun_image.podman("kill", first)
        assert killed.returncode == 0, killed.stderr
        started = time.monotonic()
        answer = eventually(lambda: (reply := call(bridged.running, "add", {"a": 2, "b": 3}, timeout=10)).status_code == 200
                            and reply, 20, "a call answered after the container was killed")
        recovered = time.monotonic() - started
        assert text_of(answer) == "5"
        assert use(bridged, ("add", {"a": 3, "b": 4})) == [7]  # and the official client's too
        (second,) = eventually(lambda: bridged.containers() if len(bridged.containers()) == 1 else None, 10,
                               "the killed container removed")
        assert second != first and len(bridged.started_pids()) == 2
        print(f"recovered {recovered:.2f}s after podman kill")
    finally:
        stop_server(bridged.running)
    gone(bridged, 15, "no container after the server stopped")


@pytest.mark.parametrize("how", ["idle", "shutdown", "bosun killed"])
def test_no_container_outlives_its_child_even_a_server_that_will_not_end(bosun_image: BuiltImage, tmp_path: Path,
                                                                         how: str) -> None:
    """The child in the container ignores the end of its input and SIGTERM (CHILD_STUBBORN), so the bridge's stop
    sequence ends with SIGKILL of the podman client, which leaves such a container running: the guard's watcher is
    what removes it. The same when Bosun itself is killed (the client then dies of its parent-death signal)."""
    bridged = bridge_in_container(bosun_image, tmp_path, environment={"CHILD_STUBBORN": "1"},
                                  idle_seconds=1 if how == "idle" else 300)
    try:
        assert use(bridged, ("add", {"a": 20, "b": 22})) == [42]
        assert len(bridged.containers(all_states=False)) == 1
        started = time.monotonic()
        if how == "shutdown":
            bridged.running.process.send_signal(signal.SIGTERM)
            assert bridged.running.process.wait(30) == 0
        elif how == "bosun killed":
            bridged.running.process.kill()
            bridged.running.process.wait(10)
        took = gone(bridged, 20, f"the container removed ({how})")
        print(f"{how}: no container {time.monotonic() - started:.2f}s after the stop began ({took:.2f}s polling)")
        if how == "idle":
            assert re.search(rf"bridge {bridged.name}: pid \d+ exited .*stopped \(idle", bridged.log.read_text())
            assert bridged.running.process.poll() is None  # the server itself goes on
    finally:
        stop_server(bridged.running)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _running(pid: str) -> bool:
    """Still running: not gone, and not a zombie (an init that does not reap, as on some CI machines, leaves those)."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    return bool(stat) and stat.rsplit(b")", 1)[1].split()[0] != b"Z"


# The configuration, checked when it is read: no podman needed.
def test_bosun_bridge_container_is_read_as_json_and_each_bad_field_is_named(tmp_path: Path) -> None:
    from bosun.bridge.options import ContainerOptions
    from bosun.bridge.settings import options_from_environment

    read = options_from_environment({"BOSUN_BRIDGE_COMMAND": "serve x.py", "BOSUN_BRIDGE_CONTAINER": json.dumps(
        {"image": "registry.example/team/server:1.2", "mounts": [f"{tmp_path}:/data:rw"], "tmpfs": ["/tmp:size=16m"],
         "memory": "1g", "cpus": 2, "pids": 32, "network": "internal", "user": "1000:1000", "pull": "never"})})
    assert read.container == ContainerOptions("registry.example/team/server:1.2", network="internal", memory="1g",
                                              cpus=2, pids=32, mounts=(f"{tmp_path}:/data:rw",), tmpfs=("/tmp:size=16m",),
                                              user="1000:1000", pull="never")
    bad = {"image": "-v /:/host", "network": "host", "memory": "5m", "cpus": 0, "pids": 0, "user": "root; rm",
           "mounts": ["relative:/x", f"{tmp_path}:/data:rx", f"{tmp_path}/../etc:/etc", f"{tmp_path}:/", "/nonexistent-x:/y"],
           "tmpfs": ["tmp", "/run:size=1m;x"], "pull": "sometimes", "podman": ""}
    with pytest.raises(ValueError) as refused:
        options_from_environment({"BOSUN_BRIDGE_COMMAND": "x", "BOSUN_BRIDGE_CONTAINER": json.dumps(bad)})
    message = str(refused.value)
    assert message.startswith("BOSUN_BRIDGE_CONTAINER=")
    for named in ("image '-v /:/host'", "network 'host'", "memory '5m'", "cpus:", "pids:", "user 'root; rm'",
                  "mounts[0] 'relative:/x'", "mounts[1]", "mounts[2]", "mounts[3]: the container's root",
                  "mounts[4]: /nonexistent-x does not exist", "tmpfs[0] 'tmp'", "tmpfs[1]", "pull 'sometimes'", "podman:"):
        assert named in message, (named, message)
    for text, why in (('["image"]', "a JSON object"), ('{"memory": "1g"}', "image is required"),
                      ('{"image": "i", "mount": []}', "unknown field 'mount'"),
                      ('{"image": "i", "mounts": "/a:/b"}', "mounts: a JSON array of strings")):
        with pytest.raises(ValueError, match=re.escape(why)):
            options_from_environment({"BOSUN_BRIDGE_COMMAND": "x", "BOSUN_BRIDGE_CONTAINER": text})


def test_the_command_names_variables_and_leaves_the_hosts_paths_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from bosun.bridge.container import in_container
    from bosun.bridge.options import BridgeOptions, ContainerOptions

    monkeypatch.setenv("CONTAINERS_CONF", "/etc/podman-for-this-host.conf")
    options = BridgeOptions(("serve", "x"), name="unit", environment={"TOKEN_FILE": "/run/token"},
                            container=ContainerOptions("localhost/x:1", mounts=("/etc:/host-etc",)))
    environment = {"PATH": "/usr/bin", "HOME": "/root", "TMPDIR": "/tmp/run", "LANG": "C.UTF-8", "TOKEN_FILE": "/run/token",
                   "API_KEY": SECRET}
    argv, podman_environment = in_container(options, ["serve", "x"], environment)
    named = [argv[index + 1] for index, part in enumerate(argv) if part == "--env"]
    assert named == ["API_KEY", "LANG", "TOKEN_FILE"]  # by name; the host's PATH, HOME and TMPDIR stay out
    assert not any(SECRET in part for part in argv)
    assert podman_environment == {**environment, "CONTAINERS_CONF": "/etc/podman-for-this-host.conf"}
    assert "/etc:/host-etc:ro,nosuid,nodev" in argv  # read-only unless the mount says rw
    assert argv[-3:] == ["localhost/x:1", "serve", "x"] and argv.count("--rm") == 1
    with pytest.raises(ValueError, match="not with a container"):  # refused when the bridge is configured
        BridgeOptions(("x",), memory_bytes=1 << 30, container=ContainerOptions("i"))
