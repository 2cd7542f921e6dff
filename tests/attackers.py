"""Hostile HTTP clients, run in their own process so they do not share the measuring client's interpreter.

    python tests/attackers.py PORT SECONDS idle=2000 slowloris=200 big_header=1

* idle: connections opened and never used, held until the server closes them;
* slowloris: connections that send a request head one small header line per second, forever;
* big_header: connections that send a 100 MB header as fast as the server reads it.

Prints one JSON line of what happened to stdout when done.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

_BIG = 100 * 1024 * 1024


async def _idle(port: int, until: float, stats: dict[str, int]) -> None:
    """Open a connection and hold it without a word until the server closes it or time is up."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        stats["idle_connect_failed"] += 1
        return
    stats["idle_opened"] += 1
    try:
        await asyncio.wait_for(reader.read(1), max(0.0, until - time.monotonic()))
        stats["idle_closed_by_server"] += 1
    except (TimeoutError, OSError):
        pass
    writer.close()


async def _slowloris(port: int, until: float, stats: dict[str, int]) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while time.monotonic() < until:
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
                try:
                    answer = await asyncio.wait_for(reader.read(64), 1.0)
                except TimeoutError:
                    continue
                if answer.startswith(b"HTTP/1.1 408"):
                    stats["slowloris_408"] += 1
                break
        except OSError:
            stats["slowloris_reset"] += 1
            await asyncio.sleep(0.1)


async def _big_header(port: int, until: float, stats: dict[str, int]) -> None:
    chunk = b"a" * 65536
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
            sent = 0
            while sent < _BIG and time.monotonic() < until:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
            # The deadline can end a send the server has not yet cut off: that is no proof either way.
            stats["big_header_sent_whole" if sent >= _BIG else "big_header_unfinished_at_deadline"] += 1
            writer.close()
        except OSError:
            stats["big_header_cut_off"] += 1
        await asyncio.sleep(0.05)


async def main(port: int, seconds: float, counts: dict[str, int]) -> dict[str, int]:
    until = time.monotonic() + seconds
    stats: dict[str, int] = {key: 0 for key in ("idle_opened", "idle_closed_by_server", "idle_connect_failed", "slowloris_408",
                                                "slowloris_reset", "big_header_sent_whole", "big_header_cut_off",
                                                "big_header_unfinished_at_deadline")}
    tasks = [_idle(port, until, stats) for _ in range(counts.get("idle", 0))]
    tasks += [_slowloris(port, until, stats) for _ in range(counts.get("slowloris", 0))]
    tasks += [_big_header(port, until, stats) for _ in range(counts.get("big_header", 0))]
    await asyncio.gather(*tasks)
    return stats


if __name__ == "__main__":
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    wanted = {key: int(value) for key, value in (argument.split("=") for argument in sys.argv[3:])}
    print(json.dumps(asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), wanted))), flush=True)
