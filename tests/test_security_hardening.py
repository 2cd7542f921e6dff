"""JWT access tokens are checked for what they are (RFC 9068 `typ`, no ID tokens, no `iat` from the future), and a
token naming only a client never passes for the user whose subject happens to equal that client id."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authserver import OidcProvider, auth_env
from conftest import Running, free_port, meta, modern_headers, start_server, stop_server

LEGACY_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


class Issuer:
    def __init__(self, provider: OidcProvider, default: Running, strict: Running) -> None:
        self.provider = provider
        self.default = default  # BOSUN_AUTH_JWT_TYPES unset: at+jwt, JWT and untyped
        self.strict = strict  # BOSUN_AUTH_JWT_TYPES=at+jwt: RFC 9068 section 4 to the letter

    def mint(self, server: Running, claims: dict[str, Any] | None = None, **headers: Any) -> str:
        return self.provider.mint({"aud": server.url, **(claims or {})}, headers=headers)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    directory = tmp_path_factory.mktemp("hardening")
    ports = free_port(), free_port()
    resources = [f"http://127.0.0.1:{port}/mcp" for port in ports]
    provider = OidcProvider(directory, resources)
    provider.start()
    servers: list[Running] = []
    try:
        servers.append(start_server("tests/servers/hardened.py", port=ports[0], env=auth_env(provider, resources[0])))
        servers.append(start_server("tests/servers/hardened.py", port=ports[1],
                                    env=auth_env(provider, resources[1], BOSUN_AUTH_JWT_TYPES="at+jwt")))
        yield Issuer(provider, *servers)
    finally:
        for running in servers:
            stop_server(running)
        provider.stop()


def call(http: httpx.Client, server: Running, token: str, name: str = "echo", arguments: dict[str, Any] | None = None,
         ) -> httpx.Response:
    params = {"name": name, "arguments": arguments if arguments is not None else ({"text": "hi"} if name == "echo" else {}),
              "_meta": meta()}
    return http.post(server.url, json={"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params},
                     headers={**modern_headers("tools/call", name), "authorization": f"Bearer {token}"})


def refused_as_invalid(answer: httpx.Response) -> str:
    """The description of a 401 invalid_token refusal (and a failed assertion for anything else)."""
    assert answer.status_code == 401, answer.text[:300]
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    return str(answer.json()["error"]["data"]["error_description"])


def test_at_jwt_in_either_spelling_is_accepted_and_other_types_are_refused(issuer: Issuer) -> None:
    with httpx.Client(timeout=10) as http:
        for server in (issuer.default, issuer.strict):
            for typ in ("at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"):
                assert call(http, server, issuer.mint(server, typ=typ)).status_code == 200, (server.url, typ)
            # Other kinds of JWT the same issuer may sign: never an access token, whatever the setting.
            for typ in ("logout+jwt", "secevent+jwt", "dpop+jwt", "id_token+jwt", "JOSE", "x"):
                description = refused_as_invalid(call(http, server, issuer.mint(server, typ=typ)))
                assert "not an access token" in description, typ


def test_generic_and_untyped_tokens_are_accepted_by_default_and_refused_when_strict(issuer: Issuer) -> None:
    with httpx.Client(timeout=10) as http:
        for typ in ("JWT", "jwt", "application/jwt", None):  # None: PyJWT leaves `typ` out of the header
            assert call(http, issuer.default, issuer.mint(issuer.default, typ=typ)).status_code == 200, typ
            description = refused_as_invalid(call(http, issuer.strict, issuer.mint(issuer.strict, typ=typ)))
            assert "typ" in description, typ


def test_id_token_shaped_jwts_are_refused_even_with_the_right_audience(issuer: Issuer) -> None:
    server = issuer.default
    with httpx.Client(timeout=10) as http:
        for marker in ({"nonce": "n-0S6_WzA2Mj"}, {"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"}, {"c_hash": "LDktKdoQak3Pk0cnXxCltA"},
                       {"token_use": "id"}, {"typ": "ID"}):
            for typ in ("JWT", None):
                description = refused_as_invalid(call(http, server, issuer.mint(server, marker, typ=typ)))
                assert "ID token" in description, marker
        assert call(http, server, issuer.mint(server, {"typ": "Bearer", "auth_time": int(time.time())})).status_code == 200


def test_an_iat_in_the_future_is_refused_beyond_the_leeway(issuer: Issuer) -> None:
    server = issuer.default
    now = int(time.time())
    with httpx.Client(timeout=10) as http:
        ten_years = issuer.mint(server, {"iat": now + 10 * 365 * 86400, "exp": now + 10 * 365 * 86400 + 300})
        assert "iat" in refused_as_invalid(call(http, server, ten_years))
        assert "iat" in refused_as_invalid(call(http, server, issuer.mint(server, {"iat": now + 600})))
        assert "iat" in refused_as_invalid(call(http, server, issuer.mint(server, {"iat": "yesterday"})))
        assert call(http, server, issuer.mint(server, {"iat": now + 5})).status_code == 200  # clock skew: within 30 s
        assert call(http, server, issuer.mint(server, {"iat": None})).status_code == 200  # iat is not required


def test_a_token_without_sub_is_its_client_and_never_the_user_with_that_subject(issuer: Issuer) -> None:
    server = issuer.default
    alice = issuer.mint(server, {"sub": "sess-alice", "client_id": "alice-app"})
    robot = issuer.mint(server, {"sub": None, "client_id": "sess-alice"})  # client credentials, no sub
    with httpx.Client(timeout=10) as http:
        # Alice's 2025 session: the robot is told it does not exist.
        opened = http.post(server.url, json=INIT, headers={**LEGACY_HEADERS, "authorization": f"Bearer {alice}"})
        assert opened.status_code == 200
        session = {**LEGACY_HEADERS, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        assert http.post(server.url, json=ping, headers={**session, "authorization": f"Bearer {alice}"}).status_code == 200
        assert http.post(server.url, json=ping, headers={**session, "authorization": f"Bearer {robot}"}).status_code == 404
        # Alice's cached result stays hers.
        first = call(http, server, alice, "balance").json()["result"]["content"][0]["text"]
        assert call(http, server, alice, "balance").json()["result"]["content"][0]["text"] == first  # the cache works
        assert call(http, server, robot, "balance").json()["result"]["content"][0]["text"] != first
        # The application sees a client, not a user.
        who = call(http, server, robot, "whoami").json()["result"]["structuredContent"]
        assert who == {"subject": None, "client_id": "sess-alice", "method": "jwt"}


def test_a_user_whose_subject_looks_like_a_client_key_is_still_a_user(issuer: Issuer) -> None:
    """No choice of `sub` reaches a client's key: `client:` in a subject is just text."""
    server = issuer.default
    robot = issuer.mint(server, {"sub": None, "client_id": "svc"})
    mimic = issuer.mint(server, {"sub": f"client:{issuer.provider.issuer}#svc", "client_id": "other"})
    with httpx.Client(timeout=10) as http:
        first = call(http, server, robot, "balance").json()["result"]["content"][0]["text"]
        assert call(http, server, mimic, "balance").json()["result"]["content"][0]["text"] != first


def test_the_type_setting_is_checked_at_start_up(tmp_path: Path) -> None:
    from bosun.config import ConfigError, load_settings

    settings = load_settings(auth_jwt_types="Application/AT+JWT, JWT")
    assert settings.auth_jwt_types == ["at+jwt", "jwt"]
    assert load_settings(auth_jwt_types="untyped").auth_jwt_types == ["at+jwt", "untyped"]  # at+jwt always
    with pytest.raises(ConfigError, match="BOSUN_AUTH_JWT_TYPES"):
        load_settings(auth_jwt_types="at+jwt,id_token")
