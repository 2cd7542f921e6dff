"""The official Python client in 2025 (legacy) mode through HAProxy round robin over three replicas.

No affinity: HAProxy balances every request on its own, so a session's requests, its GET stream and
the client's answers land on any replica. What has to hold: elicitation and sampling answered,
resource updates and list changes delivered, every time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from balancer import Balancer
from mcp import Client

from conftest import Running, free_port, start_server, stop_server
from pg import PrivateRedis

ROUNDS = 10


@pytest.fixture(scope="module")
def balanced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Running]]]:
    directory = Path(tmp_path_factory.mktemp("lb"))
    redis = PrivateRedis(free_port(), directory)
    redis.start()
    env = {"REDIS_URL": redis.url, "BOSUN_STATE_KEYS": "shared"}
    replicas: list[Running] = [start_server("tests/servers/everything.py", env=env) for _ in range(3)]
    balancer = None
    try:
        balancer = Balancer(replicas, directory)
        yield balancer.url, replicas
    finally:
        if balancer is not None:
            balancer.stop()
        for replica in replicas:
            stop_server(replica)
        redis.stop()


async def _answers_round(url: str) -> tuple[str, str]:
    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    async def sample(context: Any, params: Any) -> types.CreateMessageResult:
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="forty-two"),
                                         model="test")

    async with Client(url, mode="legacy", elicitation_callback=elicit, sampling_callback=sample,  # type: ignore[arg-type]
                      read_timeout_seconds=10) as client:
        confirmed = await client.call_tool("confirm_action", {"action": "deploy"})
        sampled = await client.call_tool("ask_model", {"question": "the answer?"})
        return confirmed.content[0].text, sampled.content[0].text  # type: ignore[union-attr]


def _served(replicas: list[Running]) -> list[float]:
    """MCP requests each replica has answered so far (its Prometheus counter)."""
    counts = []
    with httpx.Client(timeout=5) as http:
        for replica in replicas:
            text = http.get(replica.base + "/metrics").text
            counts.append(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("mcp_requests_total{")))
    return counts


def test_elicitation_and_sampling_answered_through_the_balancer_every_time(balanced: tuple[str, list[Running]]) -> None:
    url, replicas = balanced
    before = _served(replicas)
    results = [asyncio.run(_answers_round(url)) for _ in range(ROUNDS)]
    assert results == [("confirmed deploy", "forty-two")] * ROUNDS
    spread = [after - earlier for after, earlier in zip(_served(replicas), before, strict=True)]
    assert all(count >= ROUNDS for count in spread), spread  # every replica served a share: no affinity


async def _notifications_round(url: str) -> list[str]:
    received: list[str] = []
    heard = asyncio.Event()

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        method = getattr(root, "method", None)
        if method in ("notifications/resources/updated", "notifications/tools/list_changed"):
            received.append(method)
            if len(received) >= 2:
                heard.set()

    async with Client(url, mode="legacy", message_handler=on_message, read_timeout_seconds=10) as client:  # type: ignore[arg-type]
        await client.subscribe_resource("greeting://World")
        await asyncio.sleep(0.3)  # the client's GET stream is open on some replica
        await client.call_tool("touch", {"uri": "greeting://World"})
        await client.call_tool("tools_changed", {})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(heard.wait(), 5)
    return sorted(received)


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")  # legacy mode uses it on purpose
def test_resource_updates_and_list_changes_reach_the_client_through_the_balancer(balanced: tuple[str, list[Running]]) -> None:
    results = [asyncio.run(_notifications_round(balanced[0])) for _ in range(ROUNDS)]
    expected = ["notifications/resources/updated", "notifications/tools/list_changed"]
    assert results == [expected] * ROUNDS, [result for result in results if result != expected]


async def _resumed_call(url: str) -> str:
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with Client(url, mode="legacy", read_timeout_seconds=15) as client:
        result = await client.call_tool("long_count", {"to": 3}, progress_callback=on_progress)
    return f"{result.content[0].text} after {len(progress)} progress"  # type: ignore[union-attr]


def test_the_official_client_resumes_a_stream_the_server_ended_early_on_whichever_replica(
        balanced: tuple[str, list[Running]]) -> None:
    """long_count ends its POST's response at once and goes on working; the SDK client reconnects with
    Last-Event-ID through the balancer (so on any replica) and gets the progress it missed and the result."""
    results = [asyncio.run(_resumed_call(balanced[0])) for _ in range(5)]
    assert results == ["counted to 3 (resumed) after 3 progress"] * 5
