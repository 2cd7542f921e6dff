"""Load for the failover tests: every kind of call a Bosun replica makes to Redis, each recorded with its time."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx

from conftest import Running, meta, modern_headers

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


def tool(name: str, arguments: dict[str, Any] | None = None, id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments or {}}}


class Load:
    """Every kind of call a replica makes to Redis, from many clients at once, each call recorded with its time."""

    def __init__(self, replicas: list[Running]) -> None:
        self.replicas = replicas
        self.calls: list[tuple[float, float, str, str]] = []  # start, end, kind, outcome ("ok" or what failed)
        self.stop = False
        self.touches = 0
        self.heard = 0
        self.touches_heard = 0

    async def _record(self, kind: str, call: Any) -> Any:
        started = time.monotonic()
        outcome, value = "ok", None
        try:
            value = await call
            if isinstance(value, httpx.Response):
                text = value.text
                if value.status_code not in (200, 202):
                    outcome = f"HTTP {value.status_code} {text[:120]}"
                elif '"error"' in text[:200] or '"isError":true' in text:
                    outcome = f"error {text[:160]}"
        except Exception as exc:
            outcome = f"{type(exc).__name__} {exc}"
        self.calls.append((started, time.monotonic(), kind, outcome))
        return value

    async def sessions(self, http: httpx.AsyncClient, worker: int) -> None:
        """2025 sessions: opened on one replica, used on both (each use reads the session from Redis)."""
        while not self.stop:
            opened = await self._record("initialize", http.post(self.replicas[worker % 2].url, json=INIT, headers=HEADERS))
            if opened is None or "mcp-session-id" not in opened.headers:
                await asyncio.sleep(0.05)
                continue
            headers = {**HEADERS, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            for turn in range(12):
                if self.stop:
                    break
                replica = self.replicas[(worker + turn) % 2]
                await self._record("session call", http.post(replica.url, headers=headers, json=tool("add", {"a": turn, "b": 1})))

    async def modern(self, http: httpx.AsyncClient, worker: int) -> None:
        """2026-07-28 calls: the cache (`clock`), rate-limited like everything else by BOSUN_RATE_LIMIT."""
        turn = 0
        while not self.stop:
            turn += 1
            body = {"jsonrpc": "2.0", "id": turn, "method": "tools/call",
                    "params": {"name": "clock", "arguments": {}, "_meta": meta()}}
            await self._record("cached call", http.post(self.replicas[turn % 2].url, json=body,
                                                        headers=modern_headers("tools/call", "clock")))

    async def resumed(self, http: httpx.AsyncClient) -> None:
        """A call on one replica whose stream ends early, resumed on the other from the event store."""
        while not self.stop:
            opened = await self._record("initialize", http.post(self.replicas[0].url, json=INIT, headers=HEADERS))
            if opened is None or "mcp-session-id" not in opened.headers:
                await asyncio.sleep(0.05)
                continue
            headers = {**HEADERS, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            await self._record("resumed stream", self._resume(http, headers))

    async def _resume(self, http: httpx.AsyncClient, headers: dict[str, str]) -> None:
        cut = await http.post(self.replicas[0].url, headers=headers, json=tool("long_count", {"to": 4}, 7))
        priming = [line[4:] for line in cut.text.splitlines() if line.startswith("id: ")]
        assert priming, f"no event id: HTTP {cut.status_code} {cut.text[:120]}"
        resumed = await http.get(self.replicas[1].url, headers={**headers, "accept": "text/event-stream",
                                                                "last-event-id": priming[0]})
        assert "counted to 4 (resumed)" in resumed.text, f"resume: HTTP {resumed.status_code} {resumed.text[-160:]}"

    async def listen(self, http: httpx.AsyncClient, opened: asyncio.Event) -> None:
        """A subscriptions/listen stream on the first replica, hearing `touch` calls made on the second."""
        body = {"jsonrpc": "2.0", "id": "l", "method": "subscriptions/listen",
                "params": {"_meta": meta(), "notifications": {"resourceSubscriptions": ["greeting://bus"]}}}
        async with http.stream("POST", self.replicas[0].url, json=body, headers=modern_headers("subscriptions/listen"),
                               timeout=httpx.Timeout(60, read=None)) as stream:
            opened.set()
            async for line in stream.aiter_lines():
                if line.startswith("data:") and "notifications/resources/updated" in line:
                    self.heard += 1

    async def touch(self, http: httpx.AsyncClient) -> None:
        while not self.stop:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "touch", "arguments": {"uri": "greeting://bus"}, "_meta": meta()}}
            response = await self._record("bus touch", http.post(self.replicas[1].url, json=body,
                                                                 headers=modern_headers("tools/call", "touch")))
            if response is not None and response.status_code == 200:
                self.touches += 1
            await asyncio.sleep(0.05)


def summary(calls: list[tuple[float, float, str, str]]) -> str:
    done = Counter(kind for _, _, kind, _ in calls)
    failed = Counter(kind for _, _, kind, outcome in calls if outcome != "ok")
    return ", ".join(f"{kind} {done[kind]} ({failed[kind]} failed)" for kind in sorted(done))
