"""`bosun bridge -- COMMAND`: a server whose only content is one bridged stdio server.

The target `bosun.bridged:server` builds it from `BOSUN_BRIDGE_*` variables (bridge/settings.py),
so every worker process, and a container started from the image with those variables, builds the
same server. Its name is the bridge's (BOSUN_BRIDGE_NAME), so metrics and the audit trail say which
bridged server they are about.
"""

from __future__ import annotations

import os

from bosun.bridge.settings import options_from_environment
from bosun.server import Server


def build() -> Server:
    options = options_from_environment(os.environ)
    bridged = Server(options.name)
    bridged.bridge(options.command, **{key: value for key, value in _fields(options).items() if key != "command"})
    return bridged


def _fields(options: object) -> dict[str, object]:
    import dataclasses

    return {field.name: getattr(options, field.name) for field in dataclasses.fields(options)}  # type: ignore[arg-type]


server = build()
