"""The gateway's own credentials for a remote: static headers, values read from secret files, an OAuth token.

A client's credential never travels on: the remote only ever sees what is built here (the MCP
authorization spec forbids passing a client's token through, and a gateway that did would let any
client act with whatever that token allows elsewhere).

* `headers`: sent as given (nothing secret; `RemoteOptions` refuses an Authorization header there).
* `header_files`: header -> a file whose content (stripped) is the value. Read when a bridge's first
  connection to its remote starts, and again after the remote refuses them (401), so a rotated file is
  picked up without a restart. The values are secrets: they never reach a log or an error message.
* OAuth 2.1 client credentials (RFC 6749 4.4) with an RFC 8707 `resource` (the remote's URL unless
  given): the token is fetched once for all the bridge's links, cached until shortly before it expires
  (a fifth of its life, at most a minute), then fetched again. After a 401 the link asks `renew` with the
  token it used: the first caller drops it, and every caller then shares the one new fetch.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import orjson

from bosun.bridge.options import RemoteOptions

log = logging.getLogger("bosun.bridge")
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")
_DEFAULT_LIFETIME = 300.0  # a token endpoint that does not say how long its token lives
_TOKEN_BODY = 64 * 1024
_TOKEN_SECONDS = 30.0  # a token endpoint that accepts the connection and never answers holds up no one longer


class CredentialsFailed(Exception):
    """No credential could be had (a secret file gone, the token endpoint refusing or unreachable); the message
    says why and holds no secret."""


def read_secret(path: str, what: str) -> str:
    """The stripped content of `path`. A failure names the file in the log only: its message may reach a client."""
    try:
        value = Path(path).read_text().strip()
    except OSError as failure:
        log.warning("bridge: %s cannot be read from %s: %s", what, path[:200], failure.strerror or "error")
        raise CredentialsFailed(f"{what} cannot be read ({failure.strerror or 'error'})") from None
    if not value or "\n" in value or "\r" in value:
        log.warning("bridge: %s in %s must be one non-empty line", what, path[:200])
        raise CredentialsFailed(f"{what} is not one non-empty line")
    return value


class Credentials:
    def __init__(self, options: RemoteOptions, client: httpx.AsyncClient, bridge: str) -> None:
        self.options = options
        self.client = client
        self.bridge = bridge
        self.secrets: list[str] = []  # every secret value this holds, masked wherever text is shown
        self._files: dict[str, str] = {}
        self._token: str | None = None
        self._renew_at = 0.0
        self._fetching = asyncio.Lock()
        self.read_files()

    def read_files(self) -> None:
        files = {header: read_secret(path, f"the value of header {header}") for header, path in self.options.header_files.items()}
        self._files = files
        self._remember(*files.values())

    def _remember(self, *values: str) -> None:
        for value in values:
            if value not in self.secrets:
                self.secrets.append(value)
        del self.secrets[:-64]  # a long-lived bridge refreshes its token for ever: keep the recent ones

    async def headers(self) -> dict[str, str]:
        headers = {**self.options.headers, **self._files}
        if self.options.oauth_token_url is not None:
            headers["authorization"] = f"Bearer {await self.token()}"
        return headers

    async def token(self) -> str:
        if self._token is not None and time.monotonic() < self._renew_at:
            return self._token
        async with self._fetching:  # one fetch, whoever else is waiting for it
            if self._token is not None and time.monotonic() < self._renew_at:
                return self._token
            self._token, lifetime = await self._fetch()
            self._renew_at = time.monotonic() + lifetime - min(60.0, lifetime / 5)
            return self._token

    def renew(self, used: dict[str, str]) -> bool:
        """After a 401: read the secret files again, and drop the token the refused request carried (unless a newer one
        is already here). False when there is nothing that could change (then the 401 is final)."""
        if self.options.header_files:
            try:
                self.read_files()
            except CredentialsFailed as failure:
                log.warning("bridge %s: %s", self.bridge, failure)
        if self.options.oauth_token_url is None:
            return bool(self.options.header_files)
        if used.get("authorization") == f"Bearer {self._token}":
            self._token = None
        return True

    async def _fetch(self) -> tuple[str, float]:
        options = self.options
        assert options.oauth_token_url is not None and options.oauth_client_id is not None
        assert options.oauth_client_secret_file is not None
        secret = read_secret(options.oauth_client_secret_file, "the OAuth client secret")
        self._remember(secret)
        form = {"grant_type": "client_credentials", "resource": options.oauth_resource or options.url}
        if options.oauth_scope:
            form["scope"] = options.oauth_scope
        # RFC 6749 2.3.1: the id and secret are form-encoded before they go into HTTP Basic.
        auth = httpx.BasicAuth(quote_plus(options.oauth_client_id), quote_plus(secret))
        timeout = httpx.Timeout(_TOKEN_SECONDS, connect=options.connect_seconds)
        try:
            async with self.client.stream("POST", options.oauth_token_url, data=form, auth=auth, timeout=timeout,
                                          headers={"accept": "application/json"}) as response:
                raw = b""
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) > _TOKEN_BODY:
                        raise CredentialsFailed("the token endpoint's answer is too large")
                status = response.status_code
        except httpx.HTTPError as failure:
            raise CredentialsFailed(f"the token endpoint cannot be reached ({type(failure).__name__})") from None
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            answer = None
        answer = answer if type(answer) is dict else {}
        if status != 200:
            code = answer.get("error")
            shown = code if type(code) is str and _ERROR_CODE.match(code) else "no error code"
            raise CredentialsFailed(f"the token endpoint refused the bridge's client credentials (HTTP {status}, {shown})")
        token, kind, lifetime = answer.get("access_token"), answer.get("token_type", "Bearer"), answer.get("expires_in")
        if type(token) is not str or not token or type(kind) is not str or kind.lower() != "bearer":
            raise CredentialsFailed("the token endpoint's answer holds no bearer access_token")
        self._remember(token)
        seconds = float(lifetime) if isinstance(lifetime, (int, float)) and lifetime > 0 else _DEFAULT_LIFETIME
        log.info("bridge %s: fetched an OAuth access token (it lives %gs)", self.bridge, seconds)
        return token, seconds
