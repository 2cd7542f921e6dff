"""A server with a resource that needs a scope beyond the server's own, and a tool that marks resources updated:
for the listen-scope tests (tests/test_security_listen_and_metrics.py)."""

from __future__ import annotations

from bosun import Server

server = Server("scoped-updates", "1.0.0")


@server.resource("public://board")
def board() -> str:
    return "board"


@server.resource("secret://vault", scopes=["admin"])
def vault() -> str:
    return "vault"


@server.resource("secret://files/{name}", scopes=["admin"])
def secret_file(name: str) -> str:
    return f"file {name}"


@server.tool(scopes=["admin"])
def rotate_vault_keys() -> str:
    """Hidden from callers without `admin`."""
    return "rotated"


@server.tool()
def touch(uri: str) -> str:
    """Mark a resource updated, so that listeners to it get `notifications/resources/updated`."""
    server.notify_resource_updated(uri)
    return uri
