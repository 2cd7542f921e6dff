"""Errors never leak: an unexpected failure reaches the client as a generic message with the request id, the log
has the traceback under that id; errors raised on purpose carry their message; unknown arguments are named;
a completion handler with the wrong signature fails at registration. Both protocol eras, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_legacy_protocol import BASE_HEADERS

from bosun import Server
from conftest import Running, modern_call, start_server, stop_server

SECRET = "hunter2-s3cr3t"
FAILURES = [  # (method, params, what the generic message names)
    ("tools/call", {"name": "crash", "arguments": {}}, "Tool crash"),
    ("tools/call", {"name": "async_crash", "arguments": {}}, "Tool async_crash"),
    ("tools/call", {"name": "bad_query", "arguments": {}}, "Tool bad_query"),
    ("resources/read", {"uri": "items://crash"}, "Reading the resource"),
    ("prompts/get", {"name": "greet", "arguments": {"name": "crash"}}, "The prompt"),
    ("completion/complete", {"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "name", "value": "crash"}},
     "The completion handler"),
]


class Session:
    """A 2025-11-25 session over plain HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=10)
        opened = self.http.post(url, headers=BASE_HEADERS, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
        self.headers = {**BASE_HEADERS, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}

    def call(self, method: str, params: dict[str, Any]) -> httpx.Response:
        return self.http.post(self.url, headers=self.headers, json={"jsonrpc": "2.0", "id": 7, "method": method, "params": params})


def _start(tmp_path: Path, name: str, env: dict[str, str] | None = None) -> tuple[Running, Path]:
    log = tmp_path / f"{name}.log"
    running = start_server("tests/servers/faulty.py", log=log, args=["--log-level", "info"],
                           env={"BOSUN_DATA_DIR": str(tmp_path / name), "BOSUN_LOG_FORMAT": "json", **(env or {})})
    return running, log


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    running, log = _start(tmp_path_factory.mktemp("faulty"), "strict")
    yield running, log
    stop_server(running)


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer, from a JSON body or the last SSE event."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
        return dict(json.loads(data[-1]))
    return dict(response.json())


def _message(answer: dict[str, Any]) -> str:
    if "error" in answer:
        return str(answer["error"]["message"])
    result = answer["result"]
    assert result["isError"] is True
    return str(result["content"][0]["text"])


def _log_entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("era", ["2026-07-28", "2025-11-25"])
def test_an_unexpected_failure_is_generic_and_logged_under_the_request_id(faulty: tuple[Running, Path], era: str) -> None:
    running, log = faulty
    session = Session(running.url) if era != "2026-07-28" else None
    with httpx.Client(timeout=10) as http:
        for method, params, what in FAILURES:
            response = session.call(method, params) if session else modern_call(http, running.url, method, params)
            assert response.status_code == 200, (method, response.status_code, response.text)  # never a 500
            rid = response.headers["x-request-id"]
            message = _message(_answer(response))
            assert message.startswith(f"{what} failed unexpectedly (request id {rid};"), message
            for leak in (SECRET, "no_such_table", "select", "Traceback", "Error:"):
                assert leak not in response.text, (method, leak, response.text)
            logged = [entry for entry in _log_entries(log) if entry.get("request_id") == rid and entry["level"] == "error"]
            assert len(logged) == 1 and "Traceback" in logged[0]["exc"], (method, logged)
            assert logged[0]["msg"].startswith(what)


def test_a_real_sql_error_is_logged_with_the_statement_and_answered_without_it(faulty: tuple[Running, Path]) -> None:
    running, log = faulty
    with httpx.Client(timeout=10) as http:
        response = modern_call(http, running.url, "tools/call", {"name": "bad_query", "arguments": {}})
    rid = response.headers["x-request-id"]
    entry = next(entry for entry in _log_entries(log) if entry.get("request_id") == rid)
    assert "no_such_table" in entry["exc"]  # the operator sees what failed
    assert "no_such_table" not in response.text


def test_errors_meant_for_the_client_carry_their_message_in_both_eras(faulty: tuple[Running, Path]) -> None:
    running, _ = faulty
    session = Session(running.url)
    with httpx.Client(timeout=10) as http:
        for call in (session.call, lambda method, params: modern_call(http, running.url, method, params)):
            refused = _answer(call("tools/call", {"name": "refuse", "arguments": {"reason": "quota"}}))
            assert refused["result"]["isError"] is True and refused["result"]["content"][0]["text"] == "refused: quota"
            locked = _answer(call("resources/read", {"uri": "items://locked"}))
            assert locked["error"] == {"code": -32603, "message": "item is locked; try again after the nightly export"}
            nobody = _answer(call("prompts/get", {"name": "greet", "arguments": {"name": "nobody"}}))
            assert nobody["error"] == {"code": -32603, "message": "there is no one by that name"}
            for uri in ("items://404", "nothing://registered/here"):  # raised by the template, or no match at all
                missing = call("resources/read", {"uri": uri})
                assert missing.status_code == 200
                assert _answer(missing)["error"] == {"code": -32602, "message": f"Resource not found: {uri}", "data": {"uri": uri}}
            assert _answer(call("resources/read", {"uri": "items://1"}))["result"]["contents"][0]["text"] == "one"


def test_unknown_arguments_are_refused_by_name(faulty: tuple[Running, Path]) -> None:
    running, _ = faulty
    session = Session(running.url)
    with httpx.Client(timeout=10) as http:
        for call in (session.call, lambda method, params: modern_call(http, running.url, method, params)):
            typo = _answer(call("tools/call", {"name": "add", "arguments": {"a": 1, "bb": 2, "c": 3}}))["result"]
            assert typo["isError"] is True
            assert typo["content"][0]["text"] == "Invalid arguments for tool add: unknown argument(s) 'bb', 'c'; it takes: a, b"
            fine = _answer(call("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}))["result"]
            assert fine["structuredContent"] == {"result": 3}
            lenient = _answer(call("tools/call", {"name": "lenient", "arguments": {"a": 5, "extra": 1}}))["result"]
            assert lenient["structuredContent"] == {"result": 5}  # this tool opted out


def test_development_settings_show_details_and_accept_unknown_arguments(tmp_path: Path) -> None:
    running, _ = _start(tmp_path, "dev", {"BOSUN_ERROR_DETAILS": "true", "BOSUN_STRICT_ARGUMENTS": "false"})
    try:
        with httpx.Client(timeout=10) as http:
            crashed = modern_call(http, running.url, "tools/call", {"name": "async_crash", "arguments": {}})
            assert _message(_answer(crashed)).endswith(f"KeyError: '{SECRET}'")
            extra = modern_call(http, running.url, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2, "c": 3}})
            assert _answer(extra)["result"]["structuredContent"] == {"result": 3}
    finally:
        stop_server(running)


def test_a_completion_handler_with_the_wrong_signature_fails_at_registration() -> None:
    server = Server("completions")

    @server.prompt()
    def review(language: str) -> str:
        return language

    with pytest.raises(TypeError, match=r"completion handler .*one_argument for prompt 'review', argument 'language' "
                                        r"cannot be called with \(value, arguments\)"):
        @server.completion(prompt="review", argument="language")
        def one_argument(value: str) -> list[str]:
            return []

    with pytest.raises(TypeError, match="annotated to return str; it must return a list of strings"):
        @server.completion(prompt="review", argument="language")
        def returns_text(value: str, arguments: dict[str, str]) -> str:
            return ""

    @server.completion(prompt="review", argument="lang")
    def typo(value: str, arguments: dict[str, str]) -> list[str]:
        return []

    with pytest.raises(ValueError, match="registered for argument 'lang' of prompt 'review', which takes: language"):
        server.asgi_app()
