"""Credentials for the authenticated benchmark rows: an RSA key made for this run, its public PEM, a JWT it signed.

The server verifies with the public key as a static key (BOSUN_AUTH_PUBLIC_KEYS), so the row measures
verification and the audit trail, not an issuer on the network (in the steady state there is none:
keys and verified tokens are cached).
"""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path

ISSUER = "https://issuer.bench.invalid"
RESOURCE = "http://127.0.0.1/mcp"


@functools.cache
def material() -> tuple[Path, str]:
    """(public key PEM file, bearer token) for this run."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = Path(tempfile.mkdtemp(prefix="bosun-bench-")) / "issuer.pem"
    pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": RESOURCE, "sub": "bench-user", "client_id": "bench", "scope": "mcp",
                        "iat": now, "exp": now + 6 * 3600}, key, algorithm="RS256", headers={"kid": "bench", "typ": "at+jwt"})
    return pem, token


def server_env() -> dict[str, str]:
    pem, _ = material()
    return {"BOSUN_AUTH_ISSUER": ISSUER, "BOSUN_AUTH_PUBLIC_KEYS": str(pem), "BOSUN_RESOURCE_URL": RESOURCE,
            "BOSUN_AUTH_SCOPES": "mcp"}


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {material()[1]}"}
