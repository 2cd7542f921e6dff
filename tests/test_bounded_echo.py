"""Error messages repeat at most a bounded part of what the client sent.

Regression: an unknown method, a mismatched Mcp-Method header, an unknown tool or prompt name came back
whole in the error message (a 1 MiB name answered with a 1 MiB message, and a 403 carried it in its
WWW-Authenticate header too). Messages now repeat 200 characters and say how long the original was.
`resources/read` keeps the URI in `error.data.uri`, as SEP-2164 asks; only its message is bounded.
"""

from __future__ import annotations

import httpx

from conftest import Running, meta, modern_headers

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
HUGE = "x" * (1 << 20)
LONG = "y" * 20_000  # fits in a header (the head limit is 32 KiB)


def _session(http: httpx.Client, server: Running) -> dict[str, str]:
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    session = http.post(server.url, json=init, headers=HEADERS).headers["mcp-session-id"]
    return {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}


def _message(response: httpx.Response) -> str:
    return str(response.json()["error"]["message"])


def test_messages_repeat_a_bounded_part_of_a_huge_name(server: Running) -> None:
    with httpx.Client(timeout=30) as http:
        headers = _session(http, server)
        for method, params in (("tools/call", {"name": HUGE, "arguments": {}}), ("prompts/get", {"name": HUGE}),
                               ("resources/read", {"uri": HUGE}), (HUGE, {})):
            response = http.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                                 headers=headers)
            message = _message(response)
            assert len(message) < 400 and f"({len(HUGE)} characters)" in message, (method[:20], message[:300])
            if method != "resources/read":
                assert len(response.content) < 1000, (method[:20], len(response.content))
        # 2026-07-28: a body method that does not match the header, and an unknown method that does.
        body = {"jsonrpc": "2.0", "id": 2, "method": HUGE, "params": {"_meta": meta()}}
        mismatch = http.post(server.url, json=body, headers=modern_headers("tools/list"))
        assert mismatch.status_code == 400 and len(mismatch.content) < 1000, mismatch.content[:300]
        body = {"jsonrpc": "2.0", "id": 3, "method": LONG, "params": {"_meta": meta()}}
        unknown = http.post(server.url, json=body, headers=modern_headers(LONG))
        assert unknown.status_code == 404 and len(unknown.content) < 1000, unknown.content[:300]
