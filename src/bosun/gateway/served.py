"""`bosun serve gateway.json`'s target: the gateway the file in BOSUN_GATEWAY_FILE describes.

Every worker process imports this on its own, so each builds the same gateway from the same file.
"""

from __future__ import annotations

import os

from bosun.gateway.build import build

server = build(os.environ["BOSUN_GATEWAY_FILE"])
