"""JSON-RPC to a remote Streamable HTTP MCP server: an `rpc.Link`, as `rpc.Upstream` is over a child's stdio.

Ids are minted here as for a child's stdio, and the remote's own traffic goes to the same `on_request`
and `on_notification`, so `Child` routes it as it routes a process's. Per era of the remote:

* 2026-07-28: each request is a POST carrying its `_meta` envelope and the headers that mirror it
  (`headers.py`). Its answer is a JSON body, or an SSE stream whose notifications (progress) come before
  it. `subscriptions/listen` is a POST whose stream stays open: its events are the remote's
  `list_changed` and `resources/updated`. Cancelling a request closes its stream (the spec's
  cancellation); there is no `notifications/cancelled` to send.
* 2025: `initialize` opens a session (`Mcp-Session-Id`), `notifications/initialized` is POSTed, and a
  GET stream (`stream.py`) carries what the remote sends outside a call. Its requests (elicitation,
  sampling), on a call's stream or the GET stream, are answered by POSTing the response. A 404 on the
  session means it is gone: the link ends, the pool sees its "exit" and starts another. Stopping the
  link DELETEs the session.

Retries are for what is safe to repeat: a request that could not be sent at all (no connection) may
be sent again whatever it is; once it may have reached the remote, only a method that changes nothing
(pings, lists, reads, `server/discover`) is, never a tool call. A remote that cannot be reached ends
the link, which the pool counts as a crash: its backoff and breaker then answer callers at once
(retryable 503s), rather than every call waiting on a dead address. After a 401 the credentials are
renewed once (a new OAuth token, the secret files read again) and the request sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

import httpx
import orjson

from bosun.bridge.http import stream
from bosun.bridge.http.connection import RemoteConnection
from bosun.bridge.http.credentials import CredentialsFailed
from bosun.bridge.http.endpoint import RemoteEndpoint
from bosun.bridge.http.headers import ACCEPT_BOTH, Mirror, learn, modern_headers
from bosun.bridge.http.sse import TooLarge
from bosun.bridge.rpc import ChildGone, OnNotification, OnRequest
from bosun.ops.logs import bounded
from bosun.protocol.errors import INTERNAL_ERROR, McpError

log = logging.getLogger("bosun.bridge")
_SAFE = frozenset({"ping", "server/discover", "resources/read", "prompts/get", "completion/complete"})
_BUSY = frozenset({429, 502, 503, 504})  # the remote (or a proxy before it) is overloaded or restarting
_NOTIFY_SECONDS = 10.0  # a notification or an answer to the remote's question
_GOODBYE_SECONDS = 1.0
_PAUSE = 0.2  # before the first retry; doubled for each next one


def _safe(method: str | None) -> bool:
    """Whether sending `method` twice changes nothing (a notification or a response is harmless twice too)."""
    return method is None or method in _SAFE or method.endswith("/list") or method == "notifications/cancelled"


class LinkDown(ChildGone):
    """A failure that ends the link (the remote cannot be reached, or its session is gone)."""


class HttpUpstream:
    """`rpc.Link` over HTTP: what `rpc.Upstream` is over a child's stdio."""

    def __init__(self, connection: RemoteConnection, endpoint: RemoteEndpoint, on_request: OnRequest,
                 on_notification: OnNotification, limit: int) -> None:
        self.connection = connection
        self.client, self.credentials = connection.acquire()
        self.url = connection.remote.url
        self.retries = connection.remote.retries
        self.endpoint = endpoint
        self.on_request = on_request
        self.on_notification = on_notification
        self.limit = limit
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._exchanges: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed: str | None = None
        self.session: str | None = None  # a 2025 remote's session id
        self.version: str | None = None  # the 2025 version `initialize` agreed; None while 2026-07-28 (or unknown)
        self.mirrors: dict[str, tuple[Mirror, ...]] = {}
        self.reachable = True  # False once it could not be reached, or its session is gone: no DELETE then
        self._released = False
        self._ended = False
        self._ending: asyncio.Task[int] | None = None
        endpoint.goodbye = self._goodbye

    # The surface Child and the handshake use.
    def mint(self) -> int:
        return next(self._ids)

    async def request(self, method: str, params: dict[str, Any], timeout: float, request_id: int | None = None) -> dict[str, Any]:
        if self.closed is not None:
            raise ChildGone(self.closed)
        minted = request_id if request_id is not None else self.mint()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[minted] = future
        exchange = loop.create_task(self._exchange({"jsonrpc": "2.0", "id": minted, "method": method, "params": params}, future))
        self._exchanges[minted] = exchange
        try:
            async with asyncio.timeout(timeout):
                answer = await future
        finally:
            self._pending.pop(minted, None)
            self._exchanges.pop(minted, None)
            if not exchange.done():
                exchange.cancel()  # its stream closes: a 2026-07-28 remote takes that as the cancellation
        error = answer.get("error")
        if error is not None:
            error = error if type(error) is dict else {}
            code, message = error.get("code"), error.get("message")
            raise McpError(code if type(code) is int else INTERNAL_ERROR, bounded(str(message or "error"), 2000), error.get("data"))
        result = answer.get("result")
        return result if type(result) is dict else {}

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        if self.closed is not None or (self.version is None and method == "notifications/cancelled"):
            return  # a 2026-07-28 request was cancelled by closing its stream
        try:
            async with asyncio.timeout(_NOTIFY_SECONDS):
                await self._post({"jsonrpc": "2.0", "method": method, "params": params}, None)
        except LinkDown as down:
            self.close(down.why)
            return
        except (McpError, CredentialsFailed, TooLarge, httpx.HTTPError, TimeoutError) as failure:
            log.warning("bridge %s: the remote did not take %s: %s", self.endpoint.name, bounded(method, 100),
                        bounded(str(failure) or type(failure).__name__, 300))
        if method == "notifications/initialized" and self.version is not None:  # its GET stream (405: none offered)
            self._spawn(stream.listen(self))

    def notify_now(self, method: str, params: dict[str, Any]) -> None:
        if self.closed is None and not (self.version is None and method == "notifications/cancelled"):
            self._spawn(self.notify(method, params))

    def close(self, why: str, stop_process: bool = True) -> None:
        """End the link: every waiting request fails now with `why`; `stop_process` ends the endpoint too (the link
        ended on its own), which the pool sees as the child's exit."""
        if self._ended:
            return
        self._ended = True
        why = self.closed = self.closed or why
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChildGone(why))
        self._pending.clear()
        for task in [*self._exchanges.values(), *self._tasks]:
            task.cancel()
        self._exchanges.clear()
        if stop_process and self.endpoint.alive:
            self._ending = asyncio.get_running_loop().create_task(self.endpoint.stop(_GOODBYE_SECONDS, why))

    def _retire(self, why: str) -> None:
        """The remote ended this link's listen stream (it is restarting, or draining): no new request is sent on this
        link (`Child.alive` turns False, so the pool starts another), and the link ends when those running are done.
        A remote restarted gracefully finishes the calls it was running, and their callers get their answers."""
        if self.closed is None:
            self.closed = why
            self._spawn(self._close_when_idle())

    async def _close_when_idle(self) -> None:
        while self._pending:
            await asyncio.sleep(0.1)
        self.close(self.closed or "retired")

    async def _goodbye(self) -> None:
        """The endpoint stops: a 2025 session is ended with DELETE (if the remote is there to hear it)."""
        self.close("it was stopped", stop_process=False)
        try:
            if self.session is not None and self.reachable:
                headers = {**await self.credentials.headers(), **self.session_headers()}
                with contextlib.suppress(httpx.HTTPError):
                    await self.client.request("DELETE", self.url, headers=headers)
        finally:
            if not self._released:
                self._released = True
                self.connection.release()

    # One request's exchange.
    async def _exchange(self, message: dict[str, Any], future: asyncio.Future[dict[str, Any]]) -> None:
        method = message["method"]
        failure: BaseException
        try:
            answer = await self._post(message, message["id"])
            if answer is None:
                raise ChildGone(f"the remote ended its answer to {bounded(method, 100)} without one")
            self._learn(method, answer)
            if not future.done():
                future.set_result(answer)
            if method == "subscriptions/listen" and "result" in answer:
                self._retire("the remote ended its subscriptions/listen stream")  # a new link listens again
            return
        except LinkDown as down:
            self.reachable = False
            self.close(down.why)
            return
        except McpError as error:
            failure = error
        except CredentialsFailed as refused:
            failure = ChildGone(str(refused))
        except TooLarge as large:
            failure = McpError(INTERNAL_ERROR, f"The remote server's answer is over the bridge's limit ({large})")
        except httpx.HTTPError as broken:
            failure = ChildGone(f"its answer to {bounded(method, 100)} was cut off ({type(broken).__name__})")
            if method == "subscriptions/listen":
                self._retire(f"its subscriptions/listen stream broke ({type(broken).__name__})")
        except Exception:  # a bug here must not leave the caller waiting for its whole timeout
            log.exception("bridge %s: talking to the remote about %s failed", self.endpoint.name, bounded(method, 100))
            failure = McpError(INTERNAL_ERROR, "The bridge could not talk to the remote server")
        if not future.done():
            future.set_exception(failure)

    def _learn(self, method: str, answer: dict[str, Any]) -> None:
        result = answer.get("result")
        if type(result) is not dict:
            return
        if method == "initialize" and type(result.get("protocolVersion")) is str:
            self.version = result["protocolVersion"]
        elif method == "tools/list" and self.version is None:
            answer["result"] = learn(result, self.mirrors, self.endpoint.name)

    def headers_for(self, message: dict[str, Any]) -> dict[str, str]:
        """The protocol's headers for `message` (the credentials are added by the caller)."""
        headers = {"content-type": "application/json", "accept": ACCEPT_BOTH}
        if self.version is not None:
            headers.update(self.session_headers())
        elif message.get("method") not in (None, "initialize"):
            headers.update(modern_headers(message, self.mirrors))
        return headers

    def session_headers(self) -> dict[str, str]:
        headers = {"mcp-protocol-version": self.version or ""}
        if self.session is not None:
            headers["mcp-session-id"] = self.session
        return headers

    async def _post(self, message: dict[str, Any], request_id: int | None) -> dict[str, Any] | None:
        """POST `message`; for a request (`request_id`), its answer (None if the remote gave none)."""
        method = message.get("method")
        body = orjson.dumps(message)
        attempt, renewed = 0, False
        while True:
            credentials = await self.credentials.headers()
            try:
                async with self.client.stream("POST", self.url, content=body,
                                              headers={**credentials, **self.headers_for(message)}) as response:
                    status = response.status_code
                    if status == 401 and not renewed and self.credentials.renew(credentials):
                        log.info("bridge %s: the remote refused the bridge's credentials (HTTP 401); renewing them once",
                                 self.endpoint.name)
                        renewed = True
                        continue
                    if status in _BUSY and _safe(method) and attempt < self.retries:
                        attempt += 1
                        await asyncio.sleep(_PAUSE * 2 ** (attempt - 1))
                        continue
                    return await self._answer_of(method, request_id, response)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as failure:
                if "CERTIFICATE_VERIFY_FAILED" in str(failure):  # a retry would meet the same certificate
                    raise LinkDown("the remote's TLS certificate could not be verified (the bridge's ca_file names the "
                                   "CA that signed it)") from None
                if attempt >= self.retries:  # never sent: any method may go again, within the retries
                    raise LinkDown(f"the remote cannot be reached ({type(failure).__name__})") from None
            except httpx.TransportError:
                if not _safe(method) or attempt >= self.retries:  # it may have reached the remote
                    raise
            except httpx.HTTPError as failure:  # an invalid URL, a redirect loop: nothing a retry mends
                raise LinkDown(f"the remote cannot be used ({type(failure).__name__})") from None
            attempt += 1
            await asyncio.sleep(_PAUSE * 2 ** (attempt - 1))

    async def _answer_of(self, method: str | None, request_id: int | None, response: httpx.Response) -> dict[str, Any] | None:
        status = response.status_code
        kind = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if method == "initialize" and status == 200:
            self.session = response.headers.get("mcp-session-id")
        if status == 404 and self.session is not None:
            raise LinkDown("the remote ended its session (HTTP 404)")
        if status == 401:
            raise ChildGone("the remote refused the bridge's credentials (HTTP 401)")
        if request_id is None:
            if status >= 400:
                raise McpError(INTERNAL_ERROR, f"The remote server answered HTTP {status}")
            return None
        if status == 200 and kind == "text/event-stream":
            answer, last_id, pause = await stream.read(self, response, request_id)
            if answer is None and self.version is not None and last_id is not None:
                answer = await stream.resume(self, request_id, last_id, pause)
            return answer
        if status == 202:
            return None
        try:
            found = orjson.loads(await stream.body(response, self.limit))
        except orjson.JSONDecodeError:
            found = None
        if type(found) is dict and ("result" in found or "error" in found):
            error = found.get("error")
            if status >= 400 and type(error) is dict:  # the remote refused it before running it (4xx), or is busy
                code = error.get("code")
                raise McpError(code if type(code) is int else INTERNAL_ERROR, bounded(str(error.get("message")), 2000),
                               error.get("data"), http_status=503 if status in _BUSY else 200)
            if found.get("id") == request_id:
                return found
        if status in _BUSY:
            raise ChildGone(f"the remote answered HTTP {status}")
        raise McpError(INTERNAL_ERROR, f"The remote server's answer (HTTP {status}) is not a JSON-RPC response")

    # The remote's own traffic.
    def dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if type(method) is not str:
            return  # an answer that belongs to no request waiting on this stream
        if "id" in message:
            self._spawn(self._respond(message))
            return
        try:
            self.on_notification(message)
        except Exception:
            log.exception("bridge %s: handling a notification of the remote failed", self.endpoint.name)

    async def _respond(self, message: dict[str, Any]) -> None:
        """The remote asked something (elicitation, sampling, ping): route it and POST the answer, always."""
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message.get("id")}
        try:
            reply["result"] = await self.on_request(message)
        except McpError as failure:
            reply["error"] = failure.to_error()
        except Exception:
            log.exception("bridge %s: answering the remote's %s failed", self.endpoint.name, bounded(str(message["method"]), 100))
            reply["error"] = {"code": INTERNAL_ERROR, "message": "The bridge could not answer"}
        if self.version is None:
            log.warning("bridge %s: a 2026-07-28 remote sent a request (%s); it cannot be answered over HTTP",
                        self.endpoint.name, bounded(str(message["method"]), 100))
            return
        try:
            async with asyncio.timeout(_NOTIFY_SECONDS):
                await self._post(reply, None)
        except LinkDown as down:
            self.close(down.why)
        except (McpError, CredentialsFailed, TooLarge, httpx.HTTPError, TimeoutError) as failure:
            log.warning("bridge %s: the remote did not take the answer to its %s: %s", self.endpoint.name,
                        bounded(str(message["method"]), 100), bounded(str(failure) or type(failure).__name__, 300))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
