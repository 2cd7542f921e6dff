"""FastMCP 4.1.6's proxy in front of the bridge benchmark's stdio child, as its documentation writes it.

`create_proxy` with an MCP configuration naming the child's command; the default session strategy
(the backend era mirrors the front connection's) and the default HTTP app. The child's argv comes
from BENCH_BRIDGE_CHILD (a JSON array), so every bridge target serves the very same child.
"""

import json
import logging
import os

from fastmcp.server import create_proxy

logging.disable(logging.INFO)
argv = json.loads(os.environ["BENCH_BRIDGE_CHILD"])
proxy = create_proxy({"mcpServers": {"everything": {"command": argv[0], "args": argv[1:]}}}, name="bench-proxy")
app = proxy.http_app()
