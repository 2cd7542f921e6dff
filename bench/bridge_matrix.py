"""Correctness of each stdio bridge, measured rather than asserted: the matrix issue 23 asks for beside the numbers.

Every bridge target of bench/bridges.py (not the pipe) serves the same child (server-everything), and each
check starts the bridge afresh, speaks to it as a real client of its era would (2025: `initialize`, a
session when it hands one out, answers to the child's questions POSTed back; 2026-07-28: `_meta` and the
InputRequiredResult retry), then stops it with SIGTERM as a process manager would. The checks:

- colliding ids: 16 clients at once, each with its own session, all using id 1 or "1", three calls each:
  every answer must be the caller's own, with the id's JSON type;
- a second client: A calls, B connects and calls, A calls again, A reconnects (DELETE, initialize) and calls,
  B calls again: all five right;
- a child killed mid-call: kill -9 of the bridge's children during a 10 s call: how long until the caller
  hears, and whether a new client is served again within 10 s (and zombies the bridge did not reap);
- elicitation: the child's `elicitation/create` mid-call must reach the client and its answer the child;
- left behind: 10 sessions opened, 5 closed with DELETE and 5 abandoned, then the bridge stopped: the
  child processes still running 3 s later, summed over every check (they are then killed).

    .venv/bin/python bench/bridge_matrix.py [--only bridge-bosun,bridge-supergateway] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from bridges import CHILD_SCRIPT, BridgeTarget, bridge_targets
from run import free_port, spawn, stop
from targets import ACCEPT, LEGACY, MODERN

MARKER = str(CHILD_SCRIPT).encode()
ELICITED = {"action": "accept", "content": {"name": "Ada Lovelace", "check": True}}
Answer = Callable[[dict[str, Any]], dict[str, Any]]


def _processes() -> dict[int, tuple[int, str, bytes]]:
    """pid -> (ppid, state, cmdline) for every process we can read."""
    found: dict[int, tuple[int, str, bytes]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(entry)] = (int(fields[1]), fields[0], cmdline)
    return found


def children(exclude: int | None = None) -> set[int]:
    """Every running process of the benchmark's child: its script as an argument of its own (not a shell's
    command string, nor a bridge's own argv: `exclude` is the bridge, whose command line may name it too)."""
    return {pid for pid, (_, state, cmdline) in _processes().items()
            if MARKER in cmdline.split(b"\0") and state != "Z" and pid != exclude}


def zombies(root: int) -> int:
    """Exited children of `root`'s process tree that it has not reaped."""
    table = _processes()
    tree, grown = {root}, True
    while grown:
        grown = False
        for pid, (ppid, _, _) in table.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grown = True
    return sum(1 for pid in tree - {root} if table[pid][1] == "Z")


class Client:
    """One MCP client over HTTP, in the target's era; every call is bounded by `timeout`."""

    def __init__(self, http: httpx.AsyncClient, url: str, flow: str) -> None:
        self.http, self.url, self.flow = http, url, flow
        self.session: str | None = None

    def headers(self, method: str | None = None, name: str | None = None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": ACCEPT,
                   "mcp-protocol-version": MODERN if self.flow == "modern" else LEGACY}
        if self.session:
            headers["mcp-session-id"] = self.session
        if self.flow == "modern" and method is not None:
            headers["mcp-method"] = method
            if name is not None:
                headers["mcp-name"] = name
        return headers

    async def open(self) -> None:
        if self.flow == "modern":
            return
        body = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": LEGACY, "capabilities": {"elicitation": {}},
                           "clientInfo": {"name": "bridge-matrix", "version": "1"}}}
        response = await self.http.post(self.url, json=body, headers=self.headers())
        if response.status_code != 200:
            raise RuntimeError(f"initialize answered {response.status_code}: {response.text[:200]}")
        self.session = response.headers.get("mcp-session-id")
        await self.http.post(self.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=self.headers())

    async def close(self) -> None:
        if self.session:
            await self.http.delete(self.url, headers=self.headers())
            self.session = None

    async def call(self, name: str, arguments: dict[str, Any], request_id: Any = 1, answer: Answer | None = None,
                   timeout: float = 10.0) -> dict[str, Any]:
        """The JSON-RPC response to a tools/call; the child's questions on the way go to `answer`."""
        params: dict[str, Any] = {"name": name, "arguments": arguments}
        if self.flow == "modern":
            params["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN,
                               "io.modelcontextprotocol/clientInfo": {"name": "bridge-matrix", "version": "1"},
                               "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}} if answer else {}}
        body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
        for _ in range(4):  # a 2026-07-28 call retried with the answers it asked for
            message = await asyncio.wait_for(self._post(body, request_id, answer), timeout)
            result = message.get("result")
            if not (isinstance(result, dict) and result.get("resultType") == "input_required" and answer):
                return message
            responses = {key: answer(request) for key, request in (result.get("inputRequests") or {}).items()}
            body = {**body, "params": {**params, "inputResponses": responses, "requestState": result.get("requestState")}}
        raise RuntimeError("more than three rounds of input requests")

    async def _post(self, body: dict[str, Any], request_id: Any, answer: Answer | None) -> dict[str, Any]:
        headers = self.headers("tools/call", body["params"]["name"])
        async with self.http.stream("POST", self.url, json=body, headers=headers) as response:
            if "json" in response.headers.get("content-type", ""):
                return dict(json.loads(await response.aread()))
            if response.status_code != 200:
                text = (await response.aread()).decode()[:200]
                return {"error": {"code": response.status_code, "message": f"HTTP {response.status_code}: {text}"}}
            async for line in response.aiter_lines():
                if not line.startswith("data:") or not line[5:].strip():
                    continue
                message = json.loads(line[5:])
                if "method" in message and "id" in message:  # the child's question, on this call's stream
                    reply = ({"result": answer(message)} if answer and message["method"] == "elicitation/create"
                             else {"error": {"code": -32601, "message": "not supported"}})
                    await self.http.post(self.url, json={"jsonrpc": "2.0", "id": message["id"], **reply},
                                         headers=self.headers())
                elif message.get("id") == request_id and ("result" in message or "error" in message):
                    return dict(message)
        raise RuntimeError("the stream ended without an answer")


def _text(message: dict[str, Any]) -> str:
    result = message.get("result")
    if isinstance(result, dict):
        content = result.get("content") or [{}]
        return str(content[0].get("text", ""))
    return f"error: {(message.get('error') or {}).get('message', message)}"


class Peer:
    """The bridge under test, started for one check and stopped after it; counts what it left behind."""

    def __init__(self, target: BridgeTarget) -> None:
        self.target = target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.left: list[int] = []

    async def __aenter__(self) -> Peer:
        self.before = children()
        self.process = spawn(self.target, self.port)
        deadline = time.monotonic() + 40
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.target.name} exited at start")
                try:
                    client = Client(http, self.url, self.target.flow)
                    await client.open()
                    if _text(await client.call("echo", {"message": "up"})) == "Echo: up":
                        await client.close()
                        return self
                except (httpx.HTTPError, RuntimeError, TimeoutError, ValueError):
                    pass
                await asyncio.sleep(0.2)
        stop(self.process)
        raise RuntimeError(f"{self.target.name} did not answer within 40 s")

    def own_children(self) -> set[int]:
        return children(self.process.pid) - self.before

    async def __aexit__(self, *exc: object) -> None:
        stop(self.process)  # SIGTERM, then SIGKILL after 10 s: what a process manager does
        await asyncio.sleep(3)
        self.left = sorted(self.own_children())
        for pid in self.left:  # ours to clean up, and counted
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def check_ids(peer: Peer, http: httpx.AsyncClient) -> tuple[bool, str]:
    samples: list[str] = []

    async def one(index: int) -> list[bool]:
        client = Client(http, peer.url, peer.target.flow)
        await client.open()
        request_id: Any = 1 if index % 2 else "1"
        right = []
        for round_ in range(3):
            try:
                message = await client.call("echo", {"message": f"client {index} round {round_}"}, request_id)
                ok = (message.get("id") == request_id and type(message.get("id")) is type(request_id)
                      and _text(message) == f"Echo: client {index} round {round_}")
                if not ok:
                    samples.append(f"client {index} round {round_} (id {request_id!r}) got id {message.get('id')!r}, "
                                   f"{_text(message)[:60]!r}")
                right.append(ok)
            except (TimeoutError, httpx.HTTPError, RuntimeError) as failure:
                samples.append(f"client {index} round {round_}: {type(failure).__name__}")
                right.append(False)
        await client.close()
        return right

    outcomes = [ok for each in await asyncio.gather(*(one(index) for index in range(16))) for ok in each]
    wrong = outcomes.count(False)
    example = f" (e.g. {samples[0]})" if samples else ""
    return wrong == 0, f"{len(outcomes) - wrong}/{len(outcomes)} answers the caller's own{example}"


async def check_second_client(peer: Peer, http: httpx.AsyncClient) -> tuple[bool, str]:
    first, second = Client(http, peer.url, peer.target.flow), Client(http, peer.url, peer.target.flow)
    results: list[tuple[str, bool]] = []

    async def step(label: str, client: Client, *before: Callable[[], Awaitable[None]]) -> None:
        try:
            for action in before:
                await action()
            results.append((label, _text(await client.call("echo", {"message": label})) == f"Echo: {label}"))
        except (TimeoutError, httpx.HTTPError, RuntimeError, ValueError):
            results.append((label, False))

    await step("A", first, first.open)
    await step("B", second, second.open)
    await step("A again", first)
    await step("A reconnected", first, first.close, first.open)
    await step("B again", second)
    await first.close()
    await second.close()
    failed = [label for label, ok in results if not ok]
    return not failed, "all 5 calls right" if not failed else f"wrong or no answer: {', '.join(failed)}"


async def check_killed(peer: Peer, http: httpx.AsyncClient) -> tuple[bool, str]:
    client = Client(http, peer.url, peer.target.flow)
    await client.open()
    await client.call("echo", {"message": "before"})
    started = time.monotonic()
    pending = asyncio.create_task(client.call("trigger-long-running-operation", {"duration": 10, "steps": 10},
                                              timeout=15))
    await asyncio.sleep(1.0)
    for pid in peer.own_children():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    try:
        message = await pending
        heard = f"{'an error' if 'error' in message or (message.get('result') or {}).get('isError') else 'an answer'} " \
                f"{time.monotonic() - killed:.1f} s after the kill"
        told = "error" in message or bool((message.get("result") or {}).get("isError"))
    except TimeoutError:
        heard, told = f"no answer {time.monotonic() - started:.0f} s after the call (hung)", False
    except (httpx.HTTPError, RuntimeError) as failure:
        heard, told = f"the connection failed {time.monotonic() - killed:.1f} s after the kill ({type(failure).__name__})", True
    recovered, last = None, "nothing"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and recovered is None:
        try:
            fresh = Client(http, peer.url, peer.target.flow)
            await fresh.open()
            last = _text(await fresh.call("echo", {"message": "after"}, timeout=5))
            if last == "Echo: after":
                recovered = time.monotonic() - killed
            await fresh.close()
        except (TimeoutError, httpx.HTTPError, RuntimeError, ValueError) as failure:
            last = f"{type(failure).__name__}: {str(failure)[:80]}"
        if recovered is None:
            await asyncio.sleep(0.5)
    unreaped = zombies(peer.process.pid)
    if peer.process.poll() is not None:
        return False, f"{heard}; the bridge itself exited (code {peer.process.returncode})"
    recovery = (f"served again {recovered:.1f} s after the kill" if recovered is not None
                else f"not served again within 10 s (last answer: {last[:80]!r})")
    return told and recovered is not None and not unreaped, f"{heard}; {recovery}; {unreaped} zombie(s)"


async def check_elicitation(peer: Peer, http: httpx.AsyncClient) -> tuple[bool, str]:
    asked: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        asked.append(request)
        return ELICITED

    client = Client(http, peer.url, peer.target.flow)
    await client.open()
    try:
        message = await client.call("trigger-elicitation-request", {}, answer=answer, timeout=15)
    except TimeoutError:
        return False, f"no answer in 15 s ({'asked' if asked else 'never asked'})"
    finally:
        await client.close()
    result = message.get("result")
    blocks = result.get("content") if isinstance(result, dict) else None
    text = " ".join(str(block.get("text", "")) for block in blocks if isinstance(block, dict)) if blocks else _text(message)
    if asked and "Ada Lovelace" in text:
        return True, "asked the client; the answer reached the child"
    return False, f"{'asked, but' if asked else 'never asked;'} the call ended with: {text[:120]}"


async def check_left_behind(peer: Peer, http: httpx.AsyncClient) -> tuple[bool, str]:
    clients = [Client(http, peer.url, peer.target.flow) for _ in range(10)]
    for client in clients:
        await client.open()
        await client.call("echo", {"message": "hello"})
    for client in clients[:5]:
        await client.close()
    await asyncio.sleep(1)
    return True, f"{len(peer.own_children())} child process(es) while 5 sessions stayed open"


CHECKS = {"colliding ids": check_ids, "second client": check_second_client, "child killed mid-call": check_killed,
          "elicitation": check_elicitation, "left behind": check_left_behind}


async def matrix(target: BridgeTarget) -> dict[str, Any]:
    row: dict[str, Any] = {"name": target.name, "note": target.note}
    left = 0
    for name, check in CHECKS.items():
        print(f"  {target.name}: {name} ...", file=sys.stderr, flush=True)
        try:
            async with httpx.AsyncClient(timeout=20, limits=httpx.Limits(max_connections=64)) as http:
                peer = Peer(target)
                async with peer:
                    ok, detail = await check(peer, http)
        except Exception as failure:  # noqa: BLE001 - a bridge that breaks a check is a result, not a crash
            ok, detail = False, f"failed: {type(failure).__name__}: {str(failure)[:160]}"
        left += len(peer.left)
        if name == "left behind":
            ok = len(peer.left) == 0
            detail = f"{detail}; {len(peer.left)} still running 3 s after SIGTERM"
        row[name] = {"ok": ok, "detail": detail}
    if "left behind" in row:
        row["left behind"]["detail"] += f" ({left} over all checks)"
        row["left behind"]["ok"] = left == 0
    return row


def print_matrix(rows: list[dict[str, Any]]) -> None:
    print("| bridge | " + " | ".join(CHECKS) + " |")
    print("| --- |" + " :---: |" * len(CHECKS))
    for row in rows:
        print(f"| {row['name']} | " + " | ".join("yes" if row[name]["ok"] else "**no**" for name in CHECKS) + " |")
    print()
    for row in rows:
        print(f"- **{row['name']}** ({row['note']}): " + "; ".join(f"{name}: {row[name]['detail']}" for name in CHECKS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated bridge target names (default: every bridge)")
    parser.add_argument("--checks", default="", help=f"comma-separated, of: {', '.join(CHECKS)} (default all)")
    parser.add_argument("--json", type=Path, help="also write the matrix here")
    args = parser.parse_args()
    if args.checks:
        chosen = [name.strip() for name in args.checks.split(",") if name.strip()]
        if unknown := set(chosen) - set(CHECKS):
            parser.error(f"unknown check(s): {', '.join(sorted(unknown))}")
        for name in list(CHECKS):
            if name not in chosen:
                del CHECKS[name]
    wanted = {name for name in args.only.split(",") if name}
    targets = [target for target in bridge_targets() if not target.pipe and (not wanted or target.name in wanted)]
    rows = []
    for target in targets:
        if not target.python.exists():
            print(f"skip {target.name}: {target.python} missing (run bench/setup.sh)", file=sys.stderr)
            continue
        rows.append(asyncio.run(matrix(target)))
    print_matrix(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
