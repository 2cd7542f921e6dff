"""A flood of invented bearer tokens, run in its own process so it does not share the measuring client's interpreter.

    python tests/token_flood.py PORT CONNECTIONS TOKENS [SPREAD_SECONDS]

Opens CONNECTIONS keep-alive connections from 127.0.0.1 to 127.0.0.1:PORT, prints `fired`, then
sends one `tools/call` with a made-up bearer token on each, spread evenly over SPREAD_SECONDS
(default 0: all at once); the remaining TOKENS - CONNECTIONS ride on the first connections, each
right after its previous answer (on a new connection if the server closed the old one). Prints one JSON line when done: the count of each
status, `seconds` from `fired` to the last answer, and when the answers came (`answered_at` percentiles).
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time

_BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "echo", "arguments": {"text": "hi"}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "flood", "version": "0"}}}}).encode()


def _request(port: int, token: str) -> bytes:
    return (f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
            "accept: application/json, text/event-stream\r\nmcp-protocol-version: 2026-07-28\r\nmcp-method: tools/call\r\n"
            f"mcp-name: echo\r\nauthorization: Bearer {token}\r\ncontent-length: {len(_BODY)}\r\n\r\n").encode() + _BODY


async def _response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of the response on `reader`, read whole, and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").lower().split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines if line.startswith("content-length:")), None)
    if length is not None:
        await reader.readexactly(length)
    else:  # chunked
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    return int(lines[0].split()[1]), "connection: close" not in lines


async def main(port: int, connections: int, tokens: int, spread: float = 0.0) -> dict[str, object]:
    statuses: collections.Counter[str] = collections.Counter()
    opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(connections)),
                                  return_exceptions=True)
    pairs = [pair for pair in opened if not isinstance(pair, BaseException)]
    statuses["connect_failed"] = connections - len(pairs)
    numbers = iter(range(tokens))
    plan = [[next(numbers)] for _ in pairs]
    for index, number in enumerate(numbers):
        plan[index % len(plan)].append(number)
    stamp = time.time_ns()
    fired = time.monotonic()
    print("fired", flush=True)
    answered: list[float] = []

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mine: list[int], at: float) -> None:
        still_open = True
        try:
            await asyncio.sleep(max(0.0, fired + at - time.monotonic()))
            for position, number in enumerate(mine):
                if position and not still_open:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(_request(port, f"invented-{stamp}-{number}"))
                status, still_open = await _response(reader)
                statuses[str(status)] += 1
                answered.append(time.monotonic() - fired)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            statuses["broken"] += 1
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(one(reader, writer, mine, spread * index / len(pairs))
                                            for index, ((reader, writer), mine) in enumerate(zip(pairs, plan, strict=True)))), 25)
    answered.sort()
    return {**statuses, "seconds": round(time.monotonic() - fired, 3),
            "answered_at": {f"p{q}": round(answered[min(len(answered) - 1, len(answered) * q // 100)], 3) for q in (0, 50, 90, 99)}}


if __name__ == "__main__":
    spread = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    print(json.dumps(asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), spread))), flush=True)
