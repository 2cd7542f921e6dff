"""What one bridge's links to its remote share: a pool of HTTP connections and the gateway's credentials.

One `httpx.AsyncClient` per bridge, not per link: a `principal` bridge with forty principals' links to
the same remote reuses its connections, and the OAuth token is fetched once for all of them. Both are
made when the first link starts (the secret files are read then) and kept while links come and go (a
`request` bridge starts one per call: each must not cost a token fetch and a new TLS connection); a
minute after the last link ended they are closed, and at once when the server is shutting down, so a
bridge whose remote sits unused holds no connection and a bridge that stops leaves none open.

The client never follows a redirect (the gateway's credentials would go wherever the remote pointed),
takes no proxy or credential from the environment (no `.netrc` reaches the remote), verifies TLS
(against `ca_file` when given), and waits `connect_seconds` at most for a connection; how long an
answer may take is each request's own deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any

import httpx

from bosun.bridge.http.credentials import Credentials
from bosun.bridge.options import BridgeOptions, RemoteOptions
from bosun.bridge.process import shown_command

_LINGER = 60.0  # how long the client and the token outlive the last link

class RemoteConnection:
    def __init__(self, options: BridgeOptions, closing: Callable[[], bool]) -> None:
        assert options.remote is not None
        self.closing = closing
        self.bridge = options
        self.remote: RemoteOptions = options.remote
        self.client: httpx.AsyncClient | None = None
        self.credentials: Credentials | None = None
        self.users = 0
        self._closing: set[asyncio.Task[Any]] = set()
        self._linger: asyncio.TimerHandle | None = None

    def acquire(self) -> tuple[httpx.AsyncClient, Credentials]:
        """The shared client and credentials, made for the first user (the secret files are read now)."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self.client is None or self.credentials is None:
            remote = self.remote
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=remote.ca_file) if remote.ca_file else True
            connections = max(100, self.bridge.max_children * 3)  # a call, a listen stream and an answer per link
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(None, connect=remote.connect_seconds, pool=remote.connect_seconds),
                limits=httpx.Limits(max_connections=connections, max_keepalive_connections=32),
                verify=verify, follow_redirects=False, trust_env=False)
            try:
                self.credentials = Credentials(remote, client, self.bridge.name)
            except BaseException:
                self._spawn_close(client)
                raise
            self.client = client
        self.users += 1
        return self.client, self.credentials

    def release(self) -> None:
        self.users = max(0, self.users - 1)
        if self.users == 0 and self.client is not None:
            if self.closing():
                self._close()
            elif self._linger is None:
                self._linger = asyncio.get_running_loop().call_later(_LINGER, self._close)

    def _close(self) -> None:
        self._linger = None
        if self.users == 0 and self.client is not None:
            client, self.client, self.credentials = self.client, None, None
            self._spawn_close(client)

    def _spawn_close(self, client: httpx.AsyncClient) -> None:
        async def close() -> None:
            with contextlib.suppress(Exception):
                await client.aclose()

        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def shown_url(self) -> str:
        """The remote's URL as logs show it: a password or token in it masked, and any secret value."""
        return shown_command([self.remote.url], self.credentials.secrets if self.credentials is not None else ())
