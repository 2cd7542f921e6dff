"""The host page's web server for tests/test_apps_browser.py: static files on loopback, one port, two origins.

Chromium reaches `http://host.localhost:PORT/host.html` and `http://sandbox.localhost:PORT/sandbox.html`
(`*.localhost` is loopback, and a secure context, in Chromium): two origins, as the specification
requires of a host and its sandbox. `sandbox.html` is served with the Content-Security-Policy the
specification builds from the view's `_meta.ui.csp` (passed as `?csp=`), its restrictive default when
there is none; the view's frame inside inherits it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RESTRICTIVE = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; media-src 'self' data:; connect-src 'none'; frame-src 'none'; object-src 'none'; "
               "base-uri 'self'")


def view_policy(csp: dict[str, Any] | None) -> str:
    """The specification's CSP for a view ("Content Security Policy Enforcement"), from its declared origins."""
    if not csp:
        return RESTRICTIVE
    resources = " ".join(csp.get("resourceDomains", []))
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self' 'unsafe-inline' {resources}".strip(),
        f"style-src 'self' 'unsafe-inline' {resources}".strip(),
        f"connect-src 'self' {' '.join(csp.get('connectDomains', []))}".strip(),
        f"img-src 'self' data: {resources}".strip(),
        f"font-src 'self' {resources}".strip(),
        f"media-src 'self' data: {resources}".strip(),
        f"frame-src {' '.join(csp.get('frameDomains', [])) or chr(39) + 'none' + chr(39)}",
        "object-src 'none'",
        f"base-uri {' '.join(csp.get('baseUriDomains', [])) or chr(39) + 'self' + chr(39)}",
    ])


class _Pages(SimpleHTTPRequestHandler):
    policies: list[str]

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        path = urlsplit(self.path)
        if path.path == "/sandbox.html":
            declared = parse_qs(path.query).get("csp")
            policy = view_policy(json.loads(declared[0]) if declared else None)
            self.policies.append(policy)
            self.send_header("Content-Security-Policy", policy)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_pages(directory: Path) -> Iterator[tuple[int, list[str]]]:
    """Serve `directory` on a free loopback port; yields (port, the CSP headers sent for sandbox.html)."""
    policies: list[str] = []
    handler = type("Pages", (_Pages,), {"policies": policies})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), lambda *args: handler(*args, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], policies
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
