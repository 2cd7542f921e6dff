"""API keys for machine clients, stored only as hashes, rotatable without a restart.

A key looks like `bsk_<43 random characters>` and is shown once, when created
(`bosun apikey create NAME --scopes a,b`). The server keeps only its SHA-256:
keys are 256 random bits, so a fast hash is as strong as a slow one here, and a
lookup costs one hash. The file, one key per line, is usually a mounted secret:

    # name      hash                       scopes
    ci-bot      sha256:9f86d08...          notes:read notes:write
    reporting   sha256:60303ae...          notes:read

It is re-read when it changes (checked at most once a second), so adding a key,
then removing the old one, rotates it with no restart; a key removed from the
file stops working within a second.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time

from bosun.protocol.principal import Principal
from bosun.security.verifier import InvalidToken, VerifierUnavailable

log = logging.getLogger("bosun.security")
PREFIX = "bsk_"
_RECHECK_SECONDS = 1.0


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def parse_keys(text: str, source: str = "the API keys file") -> dict[str, Principal]:
    """hash -> principal; a malformed line is an error naming its number (a half-read key file must not serve)."""
    keys: dict[str, Principal] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split(None, 2)
        if len(fields) < 2 or not fields[1].startswith("sha256:") or len(fields[1]) != 71:
            raise ValueError(f"{source}, line {number}: expected 'NAME sha256:HEX [SCOPES]'")
        name, digest = fields[0], fields[1].lower()
        scopes = frozenset(fields[2].replace(",", " ").split()) if len(fields) > 2 else frozenset()
        keys[digest] = Principal(subject=name, issuer=None, client_id=name, scopes=scopes, method="api_key",
                                 key=f"apikey#{name}")
    return keys


class ApiKeyVerifier:
    def __init__(self, path: str) -> None:
        self.path = path
        self._keys: dict[str, Principal] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked = -1e18
        self._load(required=True)

    def accepts(self, token: str) -> bool:
        return token.startswith(PREFIX)

    def remembered(self, token: str) -> Principal | None:
        return None

    async def verify(self, token: str) -> Principal:
        now = time.monotonic()
        if now - self._checked >= _RECHECK_SECONDS:
            self._checked = now
            self._load(required=False)
        principal = self._keys.get(hash_key(token))
        if principal is None:
            raise InvalidToken("The API key is not valid (unknown or revoked)")
        return principal

    def _load(self, required: bool) -> None:
        try:
            info = os.stat(self.path)
            stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
            if stamp == self._stamp:
                return
            with open(self.path, encoding="utf-8") as handle:
                keys = parse_keys(handle.read(), self.path)
        except (OSError, ValueError) as exc:
            if required:
                from bosun.security.options import SecurityConfigError

                raise SecurityConfigError(f"BOSUN_AUTH_API_KEYS_FILE: {exc}") from None
            log.error("API keys file not reloaded, keeping the %d keys in hand: %s", len(self._keys), exc)
            if not self._keys:
                raise VerifierUnavailable("the API keys cannot be read") from None
            return
        if self._stamp is not None:
            log.info("API keys reloaded: %d keys", len(keys))
        self._keys = keys
        self._stamp = stamp

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
