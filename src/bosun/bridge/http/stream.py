"""The event streams of a link: a call's SSE answer, its resumption, and a 2025 session's GET stream.

A call's stream carries the remote's notifications and requests for that call, then its answer. A
2025-11-25 remote may end the stream before the answer and let the client come back for the rest
with `Last-Event-ID` (after the `retry` it named); `resume` does that, a few times at most without
anything new.

The GET stream carries what a 2025 remote sends outside any call: `list_changed`, `resources/updated`,
its pings and questions. It is opened after the handshake and opened again when it ends. A remote that
does not offer one (405) is not asked again; a session the remote no longer knows (404) ends the link,
and so does a remote that cannot be reached any more: the pool then starts another link (a new session).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import httpx
import orjson

from bosun.bridge.http import sse
from bosun.bridge.http.credentials import Credentials, CredentialsFailed
from bosun.bridge.http.endpoint import RemoteEndpoint
from bosun.ops.logs import bounded

log = logging.getLogger("bosun.bridge")
_RESUMES = 5  # reconnections in a row that bring nothing new before a call's stream is given up
_PAUSE = 0.5  # before a reconnection, when the remote named no `retry`
_MAX_PAUSE = 5.0


class Link(Protocol):
    """What the streams need of `link.HttpUpstream`."""

    client: httpx.AsyncClient
    credentials: Credentials
    endpoint: RemoteEndpoint
    url: str
    limit: int
    retries: int
    closed: str | None
    reachable: bool

    def session_headers(self) -> dict[str, str]: ...

    def dispatch(self, message: dict[str, Any]) -> None: ...

    def close(self, why: str, stop_process: bool = True) -> None: ...


async def body(response: httpx.Response, limit: int) -> bytes:
    return await sse.body(response.aiter_bytes(), limit)


async def read(link: Link, response: httpx.Response, request_id: int | None) -> tuple[dict[str, Any] | None, str | None, float]:
    """Dispatch the stream's messages until the answer to `request_id` (returned) or the stream's end: (answer, the
    last event id seen, the pause the remote asked for before a reconnection)."""
    last_id: str | None = None
    pause = _PAUSE
    async for event in sse.events(response.aiter_bytes(), link.limit):
        if event.id is not None:
            last_id = event.id
        if event.retry is not None:
            pause = min(event.retry, _MAX_PAUSE)
        if not event.data:
            continue  # a priming event: only its id matters
        try:
            message = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            message = None
        if type(message) is not dict:
            continue
        if request_id is not None and "method" not in message and message.get("id") == request_id:
            return message, last_id, pause
        link.dispatch(message)
    return None, last_id, pause


async def _get(link: Link, last_id: str | None) -> tuple[int, httpx.Response, dict[str, str]]:
    """A GET for the session's stream (from `last_id` on): its status, its response (to be closed), the credentials."""
    credentials = await link.credentials.headers()
    headers = {**credentials, **link.session_headers(), "accept": "text/event-stream"}
    if last_id is not None:
        headers["last-event-id"] = last_id
    request = link.client.build_request("GET", link.url, headers=headers)
    response = await link.client.send(request, stream=True)
    return response.status_code, response, credentials


async def resume(link: Link, request_id: int, last_id: str, pause: float) -> dict[str, Any] | None:
    """Come back for the rest of a call's stream (2025-11-25), until its answer or nothing more comes."""
    idle = 0
    while idle < _RESUMES and link.closed is None:
        await asyncio.sleep(pause)
        status, response, _ = await _get(link, last_id)
        try:
            if status != 200:
                return None
            answer, seen, pause = await read(link, response, request_id)
        finally:
            await response.aclose()
        if answer is not None:
            return answer
        idle = idle + 1 if seen is None or seen == last_id else 0
        last_id = seen or last_id
    return None


async def listen(link: Link) -> None:
    """A 2025 session's GET stream, for the link's life."""
    failures = 0
    pause = _PAUSE
    last_id: str | None = None
    renewed = False
    while link.closed is None:
        try:
            status, response, used = await _get(link, last_id)
            try:
                if status == 404:
                    link.reachable = False
                    link.close("the remote ended its session (HTTP 404)")
                    return
                if status in (405, 409):  # none offered, or the remote holds one already
                    return
                if 400 <= status < 500 and status != 401:  # it will not serve one to this client: asking again is noise
                    log.info("bridge %s: the remote refuses the session's GET stream (HTTP %d)", link.endpoint.name, status)
                    return
                if status == 401 and not renewed and link.credentials.renew(used):
                    renewed = True
                    continue
                if status == 200 and response.headers.get("content-type", "").startswith("text/event-stream"):
                    failures, renewed = 0, False
                    _, seen, pause = await read(link, response, None)
                    last_id = seen or last_id
                else:
                    failures += 1
            finally:
                await response.aclose()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as failure:
            failures += 1
            if failures > link.retries:
                link.reachable = False
                link.close(f"the remote cannot be reached ({type(failure).__name__})")
                return
        except (httpx.HTTPError, sse.TooLarge, CredentialsFailed) as failure:
            failures += 1
            if failures == 1:
                log.info("bridge %s: the remote's stream ended (%s); opening it again", link.endpoint.name,
                         bounded(str(failure) or type(failure).__name__, 200))
        await asyncio.sleep(min(_MAX_PAUSE, pause * 2 ** min(failures, 4)))
