"""A slow authorization server for the introspection tests: a real HTTP proxy that waits, then asks the real one.

`SlowIntrospection(target, delay)` listens on loopback and forwards each POST (body and
`Authorization` header as sent) to `target`, the OIDC provider's introspection endpoint, after
sleeping `delay` seconds: an authorization server that answers in 0.3 s, as a busy or distant one
does. `calls` counts the requests it received, so a test can see how many introspection calls a
flood caused.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: a burst of calls must not wait on SYN retries


class SlowIntrospection:
    def __init__(self, target: str, delay: float) -> None:
        self.target = target
        self.delay = delay
        self.calls = 0
        self.arrivals: list[tuple[float, bytes]] = []  # (time.monotonic(), the first bytes of the form) per call
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (the http.server naming)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with owner._lock:
                    owner.calls += 1
                    owner.arrivals.append((time.monotonic(), body[:24]))
                time.sleep(owner.delay)
                request = urllib.request.Request(owner.target, data=body, method="POST", headers={
                    "content-type": self.headers.get("content-type") or "application/x-www-form-urlencoded",
                    "authorization": self.headers.get("authorization") or "", "accept": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status, payload = answer.status, answer.read()
                except urllib.error.HTTPError as error:
                    status, payload = error.code, error.read()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/introspect"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> SlowIntrospection:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
