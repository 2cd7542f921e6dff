"""The server tests/test_apps_browser.py puts behind its host page: the notes dashboard example, plus the official
`@modelcontextprotocol/server-basic-vanillajs` bridged twice, as `bosun bridge` serves it (no prefix) and as a
gateway mounts it (prefix `basic`), and CORS for the host page's origin (`APPS_HOST_ORIGIN`).

The page is on another origin than Bosun, so the browser asks first (CORS), and Bosun's own Origin check
passes because that origin is in BOSUN_ALLOWED_ORIGINS, which the test sets: nothing here turns a check off.
"""

from __future__ import annotations

import os
import shutil
import sys
from functools import partial
from pathlib import Path

from starlette.middleware.cors import CORSMiddleware

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "notes"))
from dashboard import server  # noqa: E402  (the example, as `bosun serve examples/notes/dashboard.py` loads it)

BASIC = [shutil.which("node") or "node",
         str(ROOT / "tests/bridge/node_modules/@modelcontextprotocol/server-basic-vanillajs/dist/index.js"), "--stdio"]

server.bridge(BASIC, name="basic-direct")
server.mount("basic", BASIC, required=True)
server.add_middleware(partial(CORSMiddleware, allow_origins=[os.environ["APPS_HOST_ORIGIN"]], allow_methods=["GET", "POST", "DELETE"],
                              allow_headers=["*"], expose_headers=["mcp-session-id", "mcp-protocol-version"]))
