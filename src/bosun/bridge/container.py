"""A bridged server run in a container (podman) instead of as a plain process: the command that starts it.

The container gets what the operator listed and nothing more (`ContainerOptions`): no network unless one is named, a
read-only root with tmpfs where asked, memory, CPU and process caps, every capability dropped, no new privileges, a
small init as PID 1, and only the listed bind mounts. The child's environment goes in by name (`--env NAME`): podman
takes each value from its own environment, which the pool builds from the allow-list as for any child, so a secret's
value is never on a command line, where `ps` and /proc/PID/cmdline would show it to every user of the host. The host's
own paths and identity (PATH, HOME, USER, TMPDIR, CA bundle paths) stay out unless named: the image has its own.
podman itself gets the few variables it needs to find its configuration and storage (PODMAN_ENVIRONMENT).

A container must not outlive its child. The bridge's stop sequence works on `podman run --rm -i`: closing stdin ends
a well-behaved server, SIGTERM is passed into the container (podman's signal proxy, and `--init`'s PID 1 passes it
on), and a client that dies, even by SIGKILL, closes the container's stdin. A server that ignores both is left running
once its client is gone, though, so the command starts with container_guard.py, which leaves a watcher outside the
child's process group that removes the container by its unique name once the client has exited, however it ended.

It must not put a value of the environment on a command line, nor mount anything the operator did not list.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from bosun.bridge.options import BASE_ENVIRONMENT, BridgeOptions, ContainerOptions

log = logging.getLogger("bosun.bridge")
GUARD = Path(__file__).with_name("container_guard.py")
LABEL = "io.bosun.bridge"
# What podman needs to find its configuration, storage and remote service; never passed into the container.
PODMAN_ENVIRONMENT = ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF", "CONTAINER_HOST",
                      "CONTAINER_CONNECTION", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                      "DBUS_SESSION_BUS_ADDRESS", "REGISTRY_AUTH_FILE")
# The host's paths and identity: the image has its own, so these go in only when the operator names them.
_HOST_ONLY = frozenset(BASE_ENVIRONMENT) - {"LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM"}


def container_name(bridge: str) -> str:
    """A name no other container has: what the watcher removes, and what an operator sees in `podman ps`."""
    return f"bosun-{bridge}-{secrets.token_hex(6)}"


def forwarded(options: BridgeOptions, environment: Mapping[str, str]) -> list[str]:
    """The names of the child's variables the container gets: all of them but the host's own paths and identity."""
    named = set(options.environment) | set(options.allow_environment)
    return sorted(name for name in environment if name not in _HOST_ONLY or name in named)


def podman_run(container: ContainerOptions, argv: Sequence[str], names: Sequence[str], name: str,
               bridge: str) -> list[str]:
    """`podman run` for one child: the confinement, the variables by name, the image, then the server's command."""
    command = [container.podman, "run", "--rm", "--interactive", "--name", name, "--label", f"{LABEL}={bridge}",
               "--pull", container.pull, "--log-driver", "none", "--no-healthcheck", "--network", container.network,
               "--cap-drop", "all", "--security-opt", "no-new-privileges"]
    # --log-driver none: the container's stdout is the protocol; no copy of it is kept on disk. --no-healthcheck: an
    # image's HEALTHCHECK is for its own way of serving, not for a stdio child the bridge already watches.
    if container.init:
        command.append("--init")
    if container.read_only:  # and no tmpfs of podman's choosing: only those listed below
        command += ["--read-only", "--read-only-tmpfs=false"]
    if container.memory is not None:
        command += ["--memory", container.memory, "--memory-swap", container.memory]  # no swap on top of it
    if container.cpus is not None:
        command += ["--cpus", f"{container.cpus:g}"]
    if container.pids is not None:
        command += ["--pids-limit", str(container.pids)]
    if container.user is not None:
        command += ["--user", container.user]
    for mount in container.mounts:
        source, target, *mode = mount.split(":")
        command += ["--volume", f"{source}:{target}:{mode[0] if mode else 'ro'},nosuid,nodev"]
    for tmpfs in container.tmpfs:
        command += ["--tmpfs", tmpfs]
    for variable in names:
        command += ["--env", variable]
    return [*command, container.image, *argv]


def in_container(options: BridgeOptions, argv: Sequence[str], environment: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run `argv` in the bridge's container: the guard, then `podman run`; podman's
    environment is the child's plus what podman needs (PODMAN_ENVIRONMENT)."""
    container = options.container
    assert container is not None
    name = container_name(options.name)
    run = podman_run(container, argv, forwarded(options, environment), name, options.name)
    podman_environment = {key: os.environ[key] for key in PODMAN_ENVIRONMENT if key in os.environ}
    podman_environment.update(environment)
    log.info("bridge %s: container %s from %s", options.name, name, container.image)
    return [sys.executable, "-I", "-S", str(GUARD), name, *run], podman_environment
