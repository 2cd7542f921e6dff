"""The remote servers the remote-bridge tests put behind a bridge, and a counter of OAuth token requests.

* a remote Bosun (tests/servers/everything.py over HTTP): a 2026-07-28 server (it speaks 2025 too, but the
  bridge's probe finds 2026-07-28 and uses it);
* the official Python SDK's FastMCP from mcp 1.x (.venv-children: scripts/bridge_children.sh), over Streamable
  HTTP: a real 2025-only remote, with sessions, a GET stream, and questions on a call's stream;
* `TokenCounter`: a loopback HTTP proxy in front of a real OAuth provider's token endpoint, which counts the token
  requests that pass (and what they asked for) without changing them;
* `CuttingProxy`: a TCP relay in front of a remote that delivers a chosen request and then cuts its connection
  before the answer comes back, as a network failure after the request reached the server does.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from bridge_children import CHILDREN_PYTHON, start_bridge

from conftest import ROOT, Running, free_port, start_server

FASTMCP = ROOT / "tests" / "servers" / "fastmcp_remote.py"


def _wait_for_port(process: subprocess.Popen[bytes], port: int, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{what} did not start")


def start_fastmcp(port: int | None = None, log: Path | None = None, tls: tuple[Path, Path] | None = None) -> Running:
    """FastMCP (mcp 1.x) on `port`; with `tls` (certificate, key), over HTTPS."""
    assert CHILDREN_PYTHON.exists(), "run scripts/bridge_children.sh (scripts/setup.sh dev calls it)"
    port = port or free_port()
    process = subprocess.Popen([str(CHILDREN_PYTHON), str(FASTMCP), str(port), *(map(str, tls) if tls else ())], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=log.open("ab") if log is not None else subprocess.DEVNULL)
    _wait_for_port(process, port, "the FastMCP remote")
    return Running(process, f"{'https' if tls else 'http'}://127.0.0.1:{port}/mcp")


def start_remote_bosun(port: int | None = None, env: dict[str, str] | None = None, log: Path | None = None) -> Running:
    return start_server("tests/servers/everything.py", port=port, env={"BOSUN_STATE_KEYS": "remote", **(env or {})},
                        log=log, args=["--log-level", "info"] if log is not None else None)


def bridge_to(url: str, log: Path, env: dict[str, str] | None = None, remote: dict[str, Any] | None = None,
              **options: object) -> Running:
    """`bosun serve bosun.bridged:server` with BOSUN_BRIDGE_REMOTE: a bridge whose "child" is the server at `url`."""
    return start_bridge([], log=log, env=env, remote={"url": url, **(remote or {})}, **options)


def speaks(log: Path) -> list[str]:
    """The eras the bridge found its remote speaking, from its log."""
    found = []
    for line in log.read_text().splitlines():
        if "the remote server speaks" in line:
            found.append(json.loads(line)["msg"].split("speaks ")[1].split(" ")[0])
    return found


class TokenCounter:
    """A proxy for `POST /token`: forwards each request to `issuer` as it came, and remembers what it asked."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.requests: list[dict[str, Any]] = []
        self.tokens: list[str] = []
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {name: value for name, value in self.headers.items()
                           if name.lower() in ("authorization", "content-type", "accept")}
                answer = httpx.post(f"{counter.issuer}{self.path}", content=body, headers=headers, timeout=10)
                form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
                counter.requests.append({"form": form, "basic": self.headers.get("authorization", "").startswith("Basic "),
                                         "status": answer.status_code})
                if answer.status_code == 200:
                    counter.tokens.append(answer.json()["access_token"])
                self.send_response(answer.status_code)
                self.send_header("content-type", answer.headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class CuttingProxy:
    """Relays TCP to `port`. A request whose bytes hold a trigger from `cut` (each used once) reaches the remote, and
    its connection is cut as the remote's answer comes back: the sender cannot know whether it ran."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cut: set[bytes] = set()
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/mcp"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.port))
        cutting = threading.Event()

        def forward() -> None:
            with contextlib.suppress(OSError):
                while data := client.recv(65536):
                    for trigger in list(self.cut):
                        if trigger in data:
                            self.cut.discard(trigger)
                            cutting.set()
                    upstream.sendall(data)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)

        threading.Thread(target=forward, daemon=True).start()
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if cutting.is_set() and (b'"result"' in data or b'"error"' in data):
                    self.cuts += 1
                    break
                client.sendall(data)
        for end in (client, upstream):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def stop(self) -> None:
        self.listener.close()
