"""Over-limit requests get an answer the client can read, never a reset.

Simple clients write their whole request before reading, and many send `Connection: close`. When the
server answers 413 or 431 and closes while such a client is still sending, the kernel resets the
connection and the client never reads the answer. The server therefore closes the way nginx's lingering
close does (answer, FIN, then read and discard what still arrives, within bounds). Regression: a fuzz of
such requests saw resets instead of answers.
"""

from __future__ import annotations

import random
import socket
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Running, start_server, stop_server

MAX_BODY = 1024 * 1024  # BOSUN_MAX_BODY_BYTES below


@pytest.fixture(scope="module")
def small() -> Iterator[Running]:
    running = start_server("tests/servers/everything.py", env={"BOSUN_MAX_BODY_BYTES": str(MAX_BODY)})
    yield running
    stop_server(running)


def _head(port: int, extra: bytes) -> bytes:
    return (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n"
            b"MCP-Method: tools/list\r\n" % port) + extra


def _request(port: int, rng: random.Random) -> tuple[str, bytes]:
    """One over-limit request, of a random kind and size: (kind, bytes)."""
    close = b"Connection: close\r\n" if rng.random() < 0.5 else b""
    kind = rng.choice(("head", "fields", "declared-body", "chunked-body"))
    if kind == "head":  # 33 KiB .. 512 KiB of one header
        return kind, _head(port, close + b"X-Big: " + b"a" * rng.randint(33 * 1024, 512 * 1024) + b"\r\n\r\n")
    if kind == "fields":  # past the field count
        return kind, _head(port, close + b"".join(b"X-F%d: 1\r\n" % i for i in range(rng.randint(101, 400))) + b"\r\n")
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"pad":"' + b"a" * rng.randint(MAX_BODY + 1, 6 * MAX_BODY) + b'"}}'
    if kind == "declared-body":
        return kind, _head(port, close + b"Content-Length: %d\r\n\r\n" % len(body)) + body
    return kind, _head(port, close + b"Transfer-Encoding: chunked\r\n\r\n") + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"


def _answer_complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return body.endswith(b"0\r\n\r\n")  # chunked


def _exchange(port: int, data: bytes) -> tuple[str, bytes]:
    """Write the whole request, then read the answer (and, when it closes the connection, up to the close):
    ("ok"|"reset", what was read)."""
    received = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(data)
            while chunk := sock.recv(65536):
                received += chunk
                if _answer_complete(received) and b"connection: close" not in received.lower():
                    break  # a 413 whose body the server read past: the connection stays open for the next request
    except (ConnectionResetError, BrokenPipeError):
        return "reset", received
    return "ok", received


def test_over_limit_heads_and_bodies_are_answered_and_never_reset(small: Running) -> None:
    port = int(small.base.rsplit(":", 1)[1])
    rng = random.Random(19)
    requests = [_request(port, rng) for _ in range(160)]
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda item: (item[0], *_exchange(port, item[1])), requests))
    resets = Counter(kind for kind, outcome, _ in outcomes if outcome == "reset")
    assert not resets, f"resets by kind: {dict(resets)} of {Counter(kind for kind, _ in requests)}"
    wrong = [(kind, answer[:60]) for kind, _, answer in outcomes
             if not answer.startswith(b"HTTP/1.1 431" if kind in ("head", "fields") else b"HTTP/1.1 413")]
    assert not wrong, wrong[:5]
    assert all(b'"code":-32600' in answer for _, _, answer in outcomes)


def test_a_client_that_keeps_sending_past_the_bound_is_cut_off(small: Running) -> None:
    """Lingering is bounded: a head that goes on for ever is not read for ever."""
    port = int(small.base.rsplit(":", 1)[1])
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_head(port, b"X-Endless: "))
        try:
            while sent < 64 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
    assert sent < 8 * 1024 * 1024, f"the server read {sent} bytes of a refused head"
