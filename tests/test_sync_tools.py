"""Plain `def` tools: run inline only when they provably cannot block; a blocking one never stalls the others or
the probes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import httpx

from bosun.app.tools import Tool
from conftest import modern_call, start_server, stop_server


def test_only_provably_bounded_functions_run_inline() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    def label(name: str, kind: Literal["a", "b"] = "a") -> str:
        return f"{kind}:{name}" if name else kind

    def sleepy(seconds: float) -> str:
        time.sleep(seconds)
        return "slept"

    def repeat(text: str, times: int) -> str:
        return text * times  # a string repeated a billion times would hold the loop

    def power(a: int, b: int) -> int:
        return a ** b

    def spin(n: int) -> int:
        while n:
            n -= 1
        return n

    def untyped(a, b):  # type: ignore[no-untyped-def]
        return a + b

    async def asynchronous(a: int) -> int:
        return a

    inline = {fn.__name__: Tool(fn).signature.inline for fn in (add, label, sleepy, repeat, power, spin, untyped, asynchronous)}
    assert inline == {"add": True, "label": True, "sleepy": False, "repeat": False, "power": False, "spin": False,
                      "untyped": False, "asynchronous": False}
    assert Tool(sleepy, inline=True).signature.inline is True  # on the author's word
    assert Tool(add, inline=False).signature.inline is False


def test_a_blocking_def_tool_stalls_neither_other_calls_nor_probes() -> None:
    running = start_server("tests/servers/everything.py", env={"BOSUN_STATE_KEYS": "test-key-one"})
    try:
        def call(name: str, arguments: dict[str, object]) -> float:
            with httpx.Client(timeout=30) as http:
                started = time.monotonic()
                response = modern_call(http, running.url, "tools/call", {"name": name, "arguments": arguments})
                assert response.status_code == 200 and "result" in response.json(), response.text
                return time.monotonic() - started

        with ThreadPoolExecutor(8) as pool:
            sleepers = [pool.submit(call, "block", {"seconds": 2.0}) for _ in range(4)]
            time.sleep(0.3)  # the four are now asleep in worker threads
            quick: list[float] = []
            probes: list[float] = []
            with httpx.Client(timeout=5) as http:
                while not all(future.done() for future in sleepers):
                    quick.append(call("add", {"a": 1, "b": 2}))
                    started = time.monotonic()
                    assert http.get(running.base + "/health").status_code == 200
                    probes.append(time.monotonic() - started)
            assert all(1.9 < future.result() < 4 for future in sleepers)
        assert len(quick) > 20 and max(quick) < 0.25 and max(probes) < 0.25, (len(quick), max(quick), max(probes))
    finally:
        stop_server(running)
