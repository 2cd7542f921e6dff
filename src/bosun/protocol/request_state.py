"""Sealed `requestState` for multi round-trip requests (2026-07-28 MRTR).

The state travels through the client, so it is attacker-controlled input. It is
sealed with AES-256-GCM: confidential (it may hold what the user typed into an
elicitation) and tamper-evident. It is bound to the method, the target name, a
digest of the arguments and the caller, and it expires, so it cannot be
replayed onto another request or by another principal.

Keys come from configuration, so any replica can open what another sealed; the
first key seals, all keys open, which lets operators rotate keys without
breaking requests in flight.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from typing import Any

import orjson

from bosun.protocol.errors import invalid_params

_VERSION = b"\x01"
_NONCE_BYTES = 12
_KEY_ID_BYTES = 4


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:_KEY_ID_BYTES]


def decode_key(text: str) -> bytes:
    """Accept a key as urlsafe base64 (32 bytes) or as any passphrase (hashed to 32 bytes)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) == 32:
            return raw
    except ValueError:
        pass
    return hashlib.sha256(text.encode()).digest()


def arguments_digest(arguments: Any) -> str:
    """A stable digest of request arguments (key order does not matter)."""
    canonical = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32]


class StateSealer:
    """Seals and opens request state with a ring of AES-GCM keys."""

    def __init__(self, keys: list[bytes] | None = None, ttl_seconds: float = 600.0) -> None:
        self.ephemeral = not keys
        self._keys = keys or [os.urandom(32)]
        self._ttl = ttl_seconds
        self._ciphers: dict[bytes, Any] | None = None

    def _ring(self) -> dict[bytes, Any]:
        # Imported on first use: most servers never need MRTR, and this keeps start-up lean.
        if self._ciphers is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._ciphers = {_key_id(key): AESGCM(key) for key in self._keys}
        return self._ciphers

    def seal(self, binding: str, payload: dict[str, Any]) -> str:
        ring = self._ring()
        key_id = _key_id(self._keys[0])
        nonce = os.urandom(_NONCE_BYTES)
        body = orjson.dumps({"exp": time.time() + self._ttl, "b": binding, "p": payload})
        sealed = ring[key_id].encrypt(nonce, body, _VERSION + key_id)
        return base64.urlsafe_b64encode(_VERSION + key_id + nonce + sealed).decode().rstrip("=")

    def open(self, binding: str, token: object) -> dict[str, Any]:
        """Return the payload, or raise -32602 if the state is forged, stale or not for this request."""
        if type(token) is not str or len(token) > 1_000_000:
            raise invalid_params("Invalid requestState")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raise invalid_params("Invalid requestState: not valid base64url") from None
        header = 1 + _KEY_ID_BYTES
        if len(raw) < header + _NONCE_BYTES + 16 or raw[:1] != _VERSION:
            raise invalid_params("Invalid requestState")
        cipher = self._ring().get(raw[1:header])
        if cipher is None:
            raise invalid_params("Invalid requestState: sealed with an unknown key")
        try:
            from cryptography.exceptions import InvalidTag

            body = cipher.decrypt(raw[header : header + _NONCE_BYTES], raw[header + _NONCE_BYTES :], raw[:header])
        except InvalidTag:
            raise invalid_params("Invalid requestState: integrity check failed") from None
        state = orjson.loads(body)
        if state["exp"] < time.time():
            raise invalid_params("Invalid requestState: expired; retry the original request")
        if state["b"] != binding:
            raise invalid_params("Invalid requestState: it belongs to a different request")
        payload: dict[str, Any] = state["p"]
        return payload
