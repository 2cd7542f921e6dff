"""Protocol 2026-07-28 over real HTTP: envelope checks, results, MRTR, subscriptions."""

from __future__ import annotations

import base64
import json
import threading
import time

import httpx
from mcp_types.methods import validate_server_result

from conftest import MODERN, Running, meta, modern_call, modern_headers, sse_messages


def test_discover_lists_versions_capabilities_and_cache_hints(server: Running, http: httpx.Client) -> None:
    response = modern_call(http, server.url, "server/discover")
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["supportedVersions"][0] == MODERN and "2025-11-25" in result["supportedVersions"]
    assert set(result["capabilities"]) >= {"tools", "resources", "prompts", "completions"}
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"] == {"name": "everything", "version": "1.2.3"}
    assert result["ttlMs"] >= 0 and result["cacheScope"] == "public"
    validate_server_result("server/discover", MODERN, result)


def test_lists_carry_ttl_and_cache_scope_and_validate(server: Running, http: httpx.Client) -> None:
    for method in ("tools/list", "resources/list", "resources/templates/list", "prompts/list"):
        result = modern_call(http, server.url, method).json()["result"]
        assert result["ttlMs"] >= 0 and result["cacheScope"] in ("public", "private"), method
        validate_server_result(method, MODERN, result)
    tools = modern_call(http, server.url, "tools/list").json()["result"]["tools"]
    names = [tool["name"] for tool in tools]
    assert names == sorted(names, key=names.index)  # deterministic: registration order
    assert "add" in names and "confirm_action" in names


def test_tool_call_returns_text_and_structured_content(server: Running, http: httpx.Client) -> None:
    result = modern_call(http, server.url, "tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}}).json()["result"]
    assert result["content"] == [{"type": "text", "text": "5"}]
    assert result["structuredContent"] == {"result": 5}
    validate_server_result("tools/call", MODERN, result)


def test_invalid_argument_is_a_tool_error_naming_the_field(server: Running, http: httpx.Client) -> None:
    result = modern_call(http, server.url, "tools/call", {"name": "add", "arguments": {"a": "x", "b": 3}}).json()["result"]
    assert result["isError"] is True
    assert "a:" in result["content"][0]["text"] and "integer" in result["content"][0]["text"]


def test_unknown_tool_is_invalid_params(server: Running, http: httpx.Client) -> None:
    body = modern_call(http, server.url, "tools/call", {"name": "nope", "arguments": {}}).json()
    assert body["error"]["code"] == -32602 and "nope" in body["error"]["message"]


def test_unknown_resource_is_32602(server: Running, http: httpx.Client) -> None:
    body = modern_call(http, server.url, "resources/read", {"uri": "bosun://missing"}).json()
    assert body["error"]["code"] == -32602


def test_resources_read_static_template_and_blob(server: Running, http: httpx.Client) -> None:
    text = modern_call(http, server.url, "resources/read", {"uri": "greeting://World"}).json()["result"]
    assert text["contents"] == [{"uri": "greeting://World", "mimeType": "text/plain", "text": "Hello, World!"}]
    assert text["cacheScope"] in ("public", "private") and text["ttlMs"] >= 0
    validate_server_result("resources/read", MODERN, text)
    nested = modern_call(http, server.url, "resources/read", {"uri": "file:///etc/motd"}).json()["result"]
    assert nested["contents"][0]["text"] == "contents of etc/motd"
    blob = modern_call(http, server.url, "resources/read", {"uri": "bosun://logo"}).json()["result"]
    assert base64.b64decode(blob["contents"][0]["blob"]).startswith(b"\x89PNG")


def test_prompt_get_and_completion(server: Running, http: httpx.Client) -> None:
    prompt = modern_call(http, server.url, "prompts/get", {"name": "review", "arguments": {"code": "x = 1"}}).json()["result"]
    assert prompt["messages"][0]["content"]["text"].endswith("x = 1")
    validate_server_result("prompts/get", MODERN, prompt)
    missing = modern_call(http, server.url, "prompts/get", {"name": "review", "arguments": {}}).json()
    assert missing["error"]["code"] == -32602 and "code" in missing["error"]["message"]
    completion = modern_call(http, server.url, "completion/complete", {
        "ref": {"type": "ref/prompt", "name": "review"}, "argument": {"name": "language", "value": "p"}}).json()["result"]
    assert completion["completion"]["values"] == ["python", "perl", "php"]
    validate_server_result("completion/complete", MODERN, completion)


def test_header_mismatches_are_400_with_32020(server: Running, http: httpx.Client) -> None:
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 1, "b": 1}, "_meta": meta()}}
    cases = [
        {**modern_headers("tools/call", "other")},
        {**modern_headers("tools/list", "add")},
        {k: v for k, v in modern_headers("tools/call", "add").items() if k != "mcp-name"},
        {k: v for k, v in modern_headers("tools/call", "add").items() if k != "mcp-method"},
        {k: v for k, v in modern_headers("tools/call", "add").items() if k != "mcp-protocol-version"},
    ]
    for headers in cases:
        response = http.post(server.url, json=body, headers=headers)
        assert response.status_code == 400, headers
        assert response.json()["error"]["code"] == -32020
        assert response.json()["id"] == 7


def test_base64_encoded_name_header_is_decoded(server: Running, http: httpx.Client) -> None:
    encoded = "=?base64?" + base64.b64encode(b"add").decode() + "?="
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}, "_meta": meta()}}
    response = http.post(server.url, json=body, headers=modern_headers("tools/call", encoded))
    assert response.json()["result"]["structuredContent"] == {"result": 3}


def test_mirrored_param_headers_are_checked(server: Running, http: httpx.Client) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "regional", "arguments": {"region": "eu-west1", "query": "q"}, "_meta": meta()}}
    good = http.post(server.url, json=body, headers={**modern_headers("tools/call", "regional"), "mcp-param-region": "eu-west1"})
    assert good.json()["result"]["structuredContent"] == {"result": "eu-west1:q"}
    wrong = http.post(server.url, json=body, headers={**modern_headers("tools/call", "regional"), "mcp-param-region": "us"})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == -32020
    missing = http.post(server.url, json=body, headers=modern_headers("tools/call", "regional"))
    assert missing.status_code == 400 and missing.json()["error"]["code"] == -32020


def test_version_and_meta_errors(server: Running, http: httpx.Client) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list",
            "params": {"_meta": {**meta(), "io.modelcontextprotocol/protocolVersion": "1900-01-01"}}}
    response = http.post(server.url, json=body, headers={**modern_headers("tools/list"), "mcp-protocol-version": "1900-01-01"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32022 and MODERN in error["data"]["supported"] and error["data"]["requested"] == "1900-01-01"
    no_caps = {"jsonrpc": "2.0", "id": 1, "method": "tools/list",
               "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}}
    response = http.post(server.url, json=no_caps, headers=modern_headers("tools/list"))
    assert response.status_code == 400 and response.json()["error"]["code"] == -32602
    no_meta = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = http.post(server.url, json=no_meta, headers=modern_headers("tools/list"))
    assert response.status_code == 400 and response.json()["error"]["code"] == -32602


def test_removed_and_unknown_methods_are_404_32601(server: Running, http: httpx.Client) -> None:
    for method in ("initialize", "ping", "logging/setLevel", "resources/subscribe", "no/such"):
        response = modern_call(http, server.url, method, {"uri": "x", "level": "info", "protocolVersion": MODERN})
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == -32601


def test_elicitation_round_trip_with_sealed_state(server: Running, http: httpx.Client) -> None:
    caps = {"elicitation": {}}
    params = {"name": "confirm_action", "arguments": {"action": "deploy"}}
    first = modern_call(http, server.url, "tools/call", params, capabilities=caps).json()["result"]
    assert first["resultType"] == "input_required"
    validate_server_result("tools/call", MODERN, first)
    (key, request), = first["inputRequests"].items()
    assert request["method"] == "elicitation/create" and request["params"]["requestedSchema"]["properties"]["confirm"]
    retry = {**params, "inputResponses": {key: {"action": "accept", "content": {"confirm": True}}},
             "requestState": first["requestState"]}
    final = modern_call(http, server.url, "tools/call", retry, capabilities=caps, request_id=2).json()["result"]
    assert final["resultType"] == "complete"
    assert final["content"][0]["text"] == "confirmed deploy"


def test_two_rounds_accumulate_answers(server: Running, http: httpx.Client) -> None:
    caps = {"elicitation": {}}
    params = {"name": "two_questions", "arguments": {}}
    first = modern_call(http, server.url, "tools/call", params, capabilities=caps).json()["result"]
    (key1,) = first["inputRequests"]
    second = modern_call(http, server.url, "tools/call", {**params, "requestState": first["requestState"],
                         "inputResponses": {key1: {"action": "accept", "content": {"a": "x"}}}}, capabilities=caps).json()["result"]
    assert second["resultType"] == "input_required"
    (key2,) = second["inputRequests"]
    assert key2 != key1
    final = modern_call(http, server.url, "tools/call", {**params, "requestState": second["requestState"],
                        "inputResponses": {key2: {"action": "accept", "content": {"b": "y"}}}}, capabilities=caps).json()["result"]
    assert final["content"][0]["text"] == "x+y"


def test_tampered_or_misapplied_state_is_rejected(server: Running, http: httpx.Client) -> None:
    caps = {"elicitation": {}}
    first = modern_call(http, server.url, "tools/call", {"name": "confirm_action", "arguments": {"action": "deploy"}},
                        capabilities=caps).json()["result"]
    state = first["requestState"]
    flipped = state[:-3] + ("A" if state[-3] != "A" else "B") + state[-2:]
    for bad_state, arguments in ((flipped, {"action": "deploy"}), (state, {"action": "destroy"})):
        body = modern_call(http, server.url, "tools/call", {"name": "confirm_action", "arguments": arguments,
                           "requestState": bad_state, "inputResponses": {}}, capabilities=caps).json()
        assert body["error"]["code"] == -32602 and "requestState" in body["error"]["message"]


def test_state_sealed_by_one_replica_opens_on_another(server: Running, http: httpx.Client) -> None:
    from conftest import start_server, stop_server

    other = start_server("tests/servers/everything.py", env={"BOSUN_STATE_KEYS": "test-key-one"})
    try:
        caps = {"elicitation": {}}
        params = {"name": "confirm_action", "arguments": {"action": "ship"}}
        first = modern_call(http, server.url, "tools/call", params, capabilities=caps).json()["result"]
        (key,) = first["inputRequests"]
        retry = {**params, "requestState": first["requestState"],
                 "inputResponses": {key: {"action": "accept", "content": {"confirm": True}}}}
        final = modern_call(http, other.url, "tools/call", retry, capabilities=caps).json()["result"]
        assert final["content"][0]["text"] == "confirmed ship"
    finally:
        stop_server(other)


def test_elicitation_without_capability_is_32021(server: Running, http: httpx.Client) -> None:
    response = modern_call(http, server.url, "tools/call", {"name": "confirm_action", "arguments": {"action": "x"}})
    assert response.json()["error"]["code"] == -32021
    assert response.json()["error"]["data"]["requiredCapabilities"] == {"elicitation": {}}


def test_progress_streams_as_sse(server: Running, http: httpx.Client) -> None:
    response = modern_call(http, server.url, "tools/call", {"name": "count", "arguments": {"to": 3}},
                           extra_meta={"progressToken": "tok"})
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["x-accel-buffering"] == "no"
    messages = sse_messages(response.text)
    assert [m["params"]["progress"] for m in messages[:-1]] == [1, 2, 3]
    assert all(m["params"]["progressToken"] == "tok" for m in messages[:-1])
    assert messages[-1]["result"]["content"][0]["text"] == "counted to 3"
    assert "id:" not in response.text  # 2026-07-28 streams are not resumable


def test_log_messages_only_when_requested_and_above_level(server: Running, http: httpx.Client) -> None:
    quiet = modern_call(http, server.url, "tools/call", {"name": "chatty", "arguments": {}})
    assert quiet.headers["content-type"] == "application/json"
    loud = modern_call(http, server.url, "tools/call", {"name": "chatty", "arguments": {}},
                       extra_meta={"io.modelcontextprotocol/logLevel": "warning"})
    logs = [m for m in sse_messages(loud.text) if m.get("method") == "notifications/message"]
    assert [entry["params"]["level"] for entry in logs] == ["warning"]


def test_subscriptions_listen_acknowledges_and_delivers(server: Running) -> None:
    received: list[dict[str, object]] = []
    ready = threading.Event()

    def listen() -> None:
        body = {"jsonrpc": "2.0", "id": "sub-1", "method": "subscriptions/listen",
                "params": {"_meta": meta(), "notifications": {"toolsListChanged": True,
                                                              "resourceSubscriptions": ["greeting://World"]}}}
        with httpx.Client(timeout=10) as client, client.stream(
                "POST", server.url, json=body, headers=modern_headers("subscriptions/listen")) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    received.append(json.loads(line[5:]))
                    ready.set()
                    if len(received) == 3:
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(5)
    with httpx.Client(timeout=10) as client:
        modern_call(client, server.url, "tools/call", {"name": "tools_changed", "arguments": {}})
        modern_call(client, server.url, "tools/call", {"name": "touch", "arguments": {"uri": "greeting://Other"}})
        modern_call(client, server.url, "tools/call", {"name": "touch", "arguments": {"uri": "greeting://World"}})
    thread.join(5)
    ack, first, second = received
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["notifications"] == {"toolsListChanged": True, "resourceSubscriptions": ["greeting://World"]}
    assert first["method"] == "notifications/tools/list_changed"
    assert second == {"jsonrpc": "2.0", "method": "notifications/resources/updated",
                      "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": "sub-1"}, "uri": "greeting://World"}}
    assert all(m["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1" for m in received)


def test_sync_tools_run_off_the_event_loop(server: Running, http: httpx.Client) -> None:
    result = modern_call(http, server.url, "tools/call", {"name": "which_thread", "arguments": {}}).json()["result"]
    assert result["structuredContent"]["result"] != "MainThread"


def test_tool_errors_become_is_error_results(server: Running, http: httpx.Client) -> None:
    failed = modern_call(http, server.url, "tools/call", {"name": "fail", "arguments": {"message": "no dice"}}).json()["result"]
    assert failed == {"content": [{"type": "text", "text": "no dice"}], "isError": True, "resultType": "complete",
                      "_meta": failed["_meta"]}
    crashed = modern_call(http, server.url, "tools/call", {"name": "crash", "arguments": {}}).json()["result"]
    assert crashed["isError"] is True and "failed unexpectedly" in crashed["content"][0]["text"]
    assert "boom" not in crashed["content"][0]["text"]  # the exception text stays in the log (tests/test_errors.py)


def test_mixed_content_validates(server: Running, http: httpx.Client) -> None:
    result = modern_call(http, server.url, "tools/call", {"name": "media", "arguments": {}}).json()["result"]
    assert [block["type"] for block in result["content"]] == ["text", "image", "audio", "resource", "resource_link"]
    validate_server_result("tools/call", MODERN, result)


def test_notifications_are_accepted_with_202(server: Running, http: httpx.Client) -> None:
    body = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
    response = http.post(server.url, json=body, headers=modern_headers("notifications/cancelled"))
    assert response.status_code == 202 and response.content == b""


def test_many_requests_stay_fast_enough_to_finish(server: Running, http: httpx.Client) -> None:
    started = time.monotonic()
    for index in range(200):
        assert modern_call(http, server.url, "tools/call", {"name": "echo", "arguments": {"text": str(index)}}).status_code == 200
    assert time.monotonic() - started < 60  # a hang guard, not a benchmark


def test_several_questions_in_one_round(server: Running, http: httpx.Client) -> None:
    caps = {"elicitation": {}, "sampling": {}}
    first = modern_call(http, server.url, "tools/call", {"name": "survey", "arguments": {}}, capabilities=caps).json()["result"]
    assert set(first["inputRequests"]) == {"login", "capital"}
    partial = {"login": {"action": "accept", "content": {"name": "octocat"}}}
    second = modern_call(http, server.url, "tools/call", {"name": "survey", "arguments": {}, "inputResponses": partial,
                         "requestState": first["requestState"]}, capabilities=caps).json()["result"]
    assert second["resultType"] == "input_required" and set(second["inputRequests"]) == {"capital"}
    answer = {"capital": {"role": "assistant", "content": {"type": "text", "text": "Paris"}, "model": "m"}, "extra": {"x": 1}}
    final = modern_call(http, server.url, "tools/call", {"name": "survey", "arguments": {}, "inputResponses": answer,
                        "requestState": second["requestState"]}, capabilities=caps).json()["result"]
    assert final["content"][0]["text"] == "octocat / Paris"


def test_malformed_input_responses_are_32602(server: Running, http: httpx.Client) -> None:
    caps = {"elicitation": {}}
    params = {"name": "confirm_action", "arguments": {"action": "deploy"}}
    first = modern_call(http, server.url, "tools/call", params, capabilities=caps).json()["result"]
    (key,) = first["inputRequests"]
    for bad in ({key: {"action": "maybe"}}, {key: "yes"}, {key: {"action": "accept", "content": [1]}}):
        body = modern_call(http, server.url, "tools/call", {**params, "inputResponses": bad,
                           "requestState": first["requestState"]}, capabilities=caps).json()
        assert body["error"]["code"] == -32602, bad
    body = modern_call(http, server.url, "tools/call", {**params, "inputResponses": [1]}, capabilities=caps).json()
    assert body["error"]["code"] == -32602


def test_a_hand_written_request_is_told_the_next_step(server: Running, http: httpx.Client) -> None:
    """Issue 11, first contact: a request without MCP-Protocol-Version is told what to send (the version, _meta,
    or initialize for a 2025 session); an unsupported version is reported as such even when _meta is missing."""
    base = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    missing = http.post(server.url, headers=base, json=body)
    assert missing.status_code == 400
    message = missing.json()["error"]["message"]
    assert "MCP-Protocol-Version: 2026-07-28" in message and "initialize" in message and "2025-06-18" in message
    unsupported = http.post(server.url, headers={**base, "mcp-protocol-version": "2024-01-01"}, json=body)
    assert unsupported.status_code == 400
    error = unsupported.json()["error"]
    assert error["code"] == -32022 and "2024-01-01" in error["message"] and "2026-07-28" in error["message"]
    assert error["data"]["supported"][0] == "2026-07-28"
