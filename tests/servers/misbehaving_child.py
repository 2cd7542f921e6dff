"""A minimal hand-written MCP stdio server (no SDK) that misbehaves on purpose, for the bridge's lifecycle tests.

Usage: misbehaving_child.py MODE [--record FILE] [--delay SECONDS]

It speaks only the 2025 revisions: `server/discover` is refused, `initialize` answered. Its tools:
`echo` {message}, `whoami` (pid and process group), `wait` {seconds}. What MODE changes:

* normal: nothing; every tool does what it says.
* exit-at-start: writes a reason to stderr and exits with code 3 before reading anything.
* slow-handshake: reads (and records) everything, answers nothing, and does not even exit when its
  stdin ends (a wedged server: only a signal stops it).
* hang-on-call: completes the handshake and lists, never answers a `tools/call`.
* flood: answers a `tools/call` with one JSON line of 64 MiB (written in 1 MiB pieces, so this
  process stays small and only the reader's memory is at stake).
* garbage: answers a `tools/call` with numbered lines that are not JSON ("garbage 1", ...) forever.
* spawn-grandchild: starts a sleeping grandchild in its own process group (as `npx` starts `node`)
  and records its pid as `grandchild <pid>` before serving normally.
* memory-hog: a `tools/call` tries to allocate 512 MiB and says whether it could.
* close-stdout: a `tools/call` closes its stdout and it lives on, reading nothing more: a process the
  bridge can no longer talk to, which only a signal ends.
* slow-subscribe: offers one subscribable resource, `memo://note`, answers `resources/subscribe` one second late,
  and has a `touch` tool that sends `notifications/resources/updated` for it once subscribed (else nothing).

With `--record FILE`, every line read from stdin is appended to FILE as it arrives, so a test can
prove what the bridge sent (an `initialize`, a `notifications/cancelled`) even after this process is gone.
With `--delay SECONDS` it sleeps that long before it reads anything (a slow start that ends well).
Calls run in threads, so a `wait` in progress does not stop the reading (and the recording).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

MODES = ("normal", "exit-at-start", "slow-handshake", "hang-on-call", "flood", "garbage", "spawn-grandchild",
         "memory-hog", "close-stdout", "slow-subscribe")
TOOLS = [
    {"name": "echo", "description": "Echoes its message", "inputSchema": {
        "type": "object", "properties": {"message": {"type": "string"}}}},
    {"name": "whoami", "description": "This process's pid and process group", "inputSchema": {"type": "object"}},
    {"name": "wait", "description": "Answers after some seconds", "inputSchema": {
        "type": "object", "properties": {"seconds": {"type": "number"}}}},
]
TOUCH = {"name": "touch", "description": "Changes memo://note", "inputSchema": {"type": "object"}}
MEMO = "memo://note"
_out = threading.Lock()
_subscribed = threading.Event()


def write(data: bytes) -> None:
    with _out:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def send(message: dict[str, Any]) -> None:
    write(json.dumps(message).encode() + b"\n")


def record(path: str | None, line: str) -> None:
    if path is not None:
        with open(path, "a", encoding="utf-8") as file:
            file.write(line.rstrip("\n") + "\n")


def text(request_id: Any, value: str) -> None:
    send({"jsonrpc": "2.0", "id": request_id, "result": {"content": [{"type": "text", "text": value}]}})


def flood(request_id: Any) -> None:
    """One line of 64 MiB: a result whose text never ends before the limit of any sane reader."""
    write(b'{"jsonrpc": "2.0", "id": ' + json.dumps(request_id).encode() + b', "result": {"content": [{"type": "text", "text": "')
    piece = b"x" * (1 << 20)
    for _ in range(64):
        write(piece)
    write(b'"}]}}\n')


def garbage() -> None:
    count = 0
    while True:
        count += 1
        write(f"garbage {count}\n".encode())
        if count % 50 == 0:
            time.sleep(0.01)


def hog(request_id: Any) -> None:
    try:
        block = bytearray(512 << 20)
        block[-1] = 1
        outcome = "allocated 512 MiB"
    except MemoryError:
        outcome = "MemoryError"
    text(request_id, outcome)


def call(mode: str, request_id: Any, params: dict[str, Any]) -> None:
    if mode == "hang-on-call":
        return
    if mode == "flood":
        flood(request_id)
        return
    if mode == "garbage":
        garbage()
        return
    if mode == "memory-hog":
        hog(request_id)
        return
    if mode == "close-stdout":
        with _out:
            os.close(1)
            time.sleep(600)
        return
    arguments = params.get("arguments") or {}
    name = params.get("name")
    if name == "echo":
        text(request_id, f"echo: {arguments.get('message', '')}")
    elif name == "whoami":
        text(request_id, json.dumps({"pid": os.getpid(), "pgid": os.getpgrp()}))
    elif name == "touch":
        if _subscribed.is_set():
            send({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": MEMO}})
        text(request_id, "touched")
    elif name == "wait":
        time.sleep(float(arguments.get("seconds", 1)))
        text(request_id, "waited")
    else:
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32602, "message": f"Unknown tool: {name}"}})


def subscribe_late(request_id: Any) -> None:
    time.sleep(1.0)
    _subscribed.set()
    send({"jsonrpc": "2.0", "id": request_id, "result": {}})


def handle(mode: str, message: dict[str, Any]) -> None:
    method = message.get("method")
    request_id = message.get("id")
    if "id" not in message or mode == "slow-handshake":
        return  # a notification (initialized, cancelled), or nothing is ever answered
    memo = mode == "slow-subscribe"
    if method == "initialize":
        capabilities: dict[str, Any] = {"tools": {}, **({"resources": {"subscribe": True}} if memo else {})}
        send({"jsonrpc": "2.0", "id": request_id, "result": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities,
            "serverInfo": {"name": f"misbehaving-{mode}", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": request_id, "result": {"tools": TOOLS + ([TOUCH] if memo else [])}})
    elif memo and method == "resources/list":
        send({"jsonrpc": "2.0", "id": request_id, "result": {"resources": [{"uri": MEMO, "name": "note"}]}})
    elif memo and method == "resources/subscribe":
        threading.Thread(target=subscribe_late, args=(request_id,), daemon=True).start()
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": request_id, "result": {}})
    elif method == "tools/call":
        threading.Thread(target=call, args=(mode, request_id, message.get("params") or {}), daemon=True).start()
    else:
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": f"Method not found: {method}"}})


def main() -> int:
    args = sys.argv[1:]
    mode = args[0] if args else "normal"
    path = args[args.index("--record") + 1] if "--record" in args else None
    delay = float(args[args.index("--delay") + 1]) if "--delay" in args else 0.0
    if mode not in MODES:
        print(f"unknown mode {mode!r}; one of {', '.join(MODES)}", file=sys.stderr)
        return 2
    print(f"misbehaving child pid {os.getpid()} in mode {mode}", file=sys.stderr, flush=True)
    if mode == "exit-at-start":
        print("fatal: this child exits at start-up on purpose", file=sys.stderr, flush=True)
        return 3
    if mode == "spawn-grandchild":
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], stdin=subprocess.DEVNULL)
        record(path, f"grandchild {grandchild.pid}")
    time.sleep(delay)
    for line in sys.stdin:
        record(path, line)
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            handle(mode, message)
    if mode == "slow-handshake":
        time.sleep(600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
