"""A `Server` from a gateway file: each backend mounted under its prefix, nothing else.

The backends are bridges (bosun.bridge), so each gets the whole surface: scopes, rate limits, the
audit trail (its records name the backend in `via`), metrics per backend, /ready's detail, and
replicas. The file is read once, at start: a change to it applies at the next start (a rolling
restart in Kubernetes, which the overlay triggers from the file's checksum), never half-way.
"""

from __future__ import annotations

import dataclasses

from bosun.gateway.file import load
from bosun.server import Server


def build(path: str) -> Server:
    gateway = load(path)
    top = gateway.top
    server = Server(top.name, instructions=top.instructions, page_size=top.page_size)
    for options in gateway.backends:
        fields = {field.name: getattr(options, field.name) for field in dataclasses.fields(options)}
        server.mount(fields.pop("prefix"), fields.pop("command"), **fields)
    return server
