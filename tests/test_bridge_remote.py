"""A bridge whose server is remote: Streamable HTTP to a real MCP server in the place of a child process.

Remotes: a Bosun server (2026-07-28: stateless POSTs with the `_meta` envelope and the headers that mirror it, a
`subscriptions/listen` stream) and the official Python SDK's FastMCP on mcp 1.x (2025 only: a session, a GET
stream, questions on a call's stream answered by POSTing the answer, DELETE at the end). Clients of both eras
drive the bridge with the official Python client. What a client sees must be what it sees of a local child:
calls, lists, reads, progress, the remote's elicitation (2025 client: asked on its stream; 2026 client: an
`InputRequiredResult`), `list_changed`; a remote that dies gives retryable 503s and opens the breaker, never a
hang or a 500, and it is used again when it is back; the remote sees only the gateway's credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.subscriptions import ToolsListChanged
from polling import eventually
from redis_topologies import make_ca, make_server_cert
from remote_bridge import CuttingProxy, TokenCounter, bridge_to, speaks, start_fastmcp, start_remote_bosun

from authserver import OidcProvider, auth_env
from bosun.bridge.options import RemoteOptions
from bosun.bridge.settings import options_from_environment
from bosun.security.apikeys import hash_key, new_key
from conftest import Running, free_port, modern_call, stop_server

# What each remote offers the scenario: a call and its answer, a resource and its text.
REMOTES: dict[str, dict[str, Any]] = {
    "bosun": {"call": ("add", {"a": 2, "b": 3}, "5"), "read": ("bosun://readme", "# everything"), "era": "2026-07-28"},
    "fastmcp": {"call": ("echo", {"text": "hi"}, "fastmcp: hi"), "read": ("notes://readme", "the remote's readme"),
                "era": "2025-11-25"},
}
ERAS = [("auto", "2026-07-28"), ("legacy", "2025-11-25")]


def _start(kind: str, port: int | None = None, log: Path | None = None, env: dict[str, str] | None = None) -> Running:
    return start_remote_bosun(port, env, log) if kind == "bosun" else start_fastmcp(port, log)


@pytest.fixture(scope="module", params=["bosun", "fastmcp"])
def bridged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Running, Path]]:
    kind = request.param
    directory = tmp_path_factory.mktemp(kind)
    remote = _start(kind)
    log = directory / "bridge.log"
    bridge = bridge_to(remote.url, log, name=f"remote-{kind}")
    yield kind, bridge, log
    stop_server(bridge)
    stop_server(remote)


async def _list_changed(client: Client, modern: bool, heard: asyncio.Event) -> bool:
    """The remote says its tool list changed (a tool asks it to): does that reach this client?"""
    if modern:
        async with client.listen(tools_list_changed=True) as subscription:
            await client.call_tool("tools_changed", {})
            events = subscription.__aiter__()
            return isinstance(await asyncio.wait_for(events.__anext__(), 5), ToolsListChanged)
    await asyncio.sleep(0.3)  # the session's GET stream is open
    await client.call_tool("tools_changed", {})
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(heard.wait(), 5)
    return heard.is_set()


async def _scenario(url: str, mode: str, remote: dict[str, Any]) -> dict[str, Any]:
    asked: list[str] = []
    progress: list[float] = []
    heard = asyncio.Event()

    async def answer(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_message(message: Any) -> None:
        if getattr(getattr(message, "root", message), "method", None) == "notifications/tools/list_changed":
            heard.set()

    name, arguments, _ = remote["call"]
    async with Client(url, mode=mode, elicitation_callback=answer, message_handler=on_message,  # type: ignore[arg-type]
                      read_timeout_seconds=20) as client:
        tools = await client.list_tools()
        called = await client.call_tool(name, arguments)
        counted = await client.call_tool("count", {"to": 3}, progress_callback=on_progress)
        confirmed = await client.call_tool("confirm_action", {"action": "deploy"})
        read = await client.read_resource(remote["read"][0])
        regional = await client.call_tool("regional", {"region": "eu-west", "query": "q"}) if "regional" in \
            {tool.name for tool in tools.tools} else None
        changed = await _list_changed(client, mode == "auto", heard)
        return {"version": client.protocol_version, "tools": {tool.name for tool in tools.tools},
                "called": called.content[0].text, "counted": counted.content[0].text, "progress": progress,  # type: ignore[union-attr]
                "confirmed": confirmed.content[0].text, "asked": asked, "read": read.contents[0].text,  # type: ignore[union-attr]
                "regional": regional.content[0].text if regional is not None else None,  # type: ignore[union-attr]
                "changed": changed}


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")
@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_clients_of_both_eras_reach_remotes_of_both_eras(bridged: tuple[str, Running, Path], mode: str, version: str) -> None:
    kind, bridge, log = bridged
    remote = REMOTES[kind]
    result = asyncio.run(_scenario(bridge.url, mode, remote))
    assert result["version"] == version
    assert {remote["call"][0], "count", "confirm_action", "tools_changed"} <= result["tools"]
    assert result["called"] == remote["call"][2]
    assert result["counted"] == "counted to 3" and result["progress"] == [1, 2, 3]  # under the client's own token
    assert result["confirmed"] == "confirmed deploy" and result["asked"] == ["Really deploy?"]
    assert result["read"] == remote["read"][1]
    if kind == "bosun":  # its `regional` marks `region` x-mcp-header: it refuses a call without Mcp-Param-Region
        assert result["regional"] == "eu-west:q"
    assert result["changed"], "the remote's list_changed did not reach the client"
    assert speaks(log) == [remote["era"]]  # probed once: one link served both clients


def _call(http: httpx.Client, url: str, text: str = "x", headers: dict[str, str] | None = None, tool: str = "echo",
          arguments: dict[str, Any] | None = None) -> httpx.Response:
    """A 2026-07-28 `tools/call` (by default `echo`, which both remotes have), with the client's own `headers`."""
    params = {"name": tool, "arguments": {"text": text} if arguments is None else arguments, "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}
    return http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params},
                     headers={"content-type": "application/json", "accept": "application/json, text/event-stream",
                              "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": tool,
                              **(headers or {})})


@pytest.mark.parametrize("kind", ["bosun", "fastmcp"])
def test_a_dead_remote_gives_retryable_503s_opens_the_breaker_and_is_used_again_when_back(tmp_path: Path, kind: str) -> None:
    port = free_port()
    remote = _start(kind, port)
    log = tmp_path / "bridge.log"
    bridge = bridge_to(remote.url, log, remote={"retries": 1}, name="flaky", crash_loop=3, backoff_initial=0.2,
                       backoff_max=2)
    try:
        with httpx.Client(timeout=15) as http:
            def ready() -> tuple[int, str]:
                answer = http.get(bridge.base + "/ready")
                return answer.status_code, answer.json()["checks"]["bridge:flaky"]["detail"]

            assert _call(http, bridge.url).status_code == 200
            remote.process.kill()
            remote.process.wait()
            seen: list[str] = []

            def refused() -> bool:
                started = time.monotonic()
                answer = _call(http, bridge.url)
                assert time.monotonic() - started < 5, "a call waited on a dead remote"
                assert answer.status_code == 503 and int(answer.headers["retry-after"]) >= 1, answer.text  # never a 500
                seen.append(answer.json()["error"]["message"])
                return ready()[0] == 503

            eventually(refused, 15, "the breaker did not open")
            assert ready()[1].startswith("crash-looping")
            assert any("cannot be reached" in message for message in seen), seen
            started = time.monotonic()
            answer = _call(http, bridge.url)
            assert time.monotonic() - started < 0.5  # the breaker answers at once, without trying the remote
            assert answer.status_code == 503 and "keeps crashing" in answer.json()["error"]["message"]
            remote = _start(kind, port)
            eventually(lambda: _call(http, bridge.url).status_code == 200, 10, "the bridge did not use the remote again")
            assert ready()[0] == 200
    finally:
        stop_server(bridge)
        stop_server(remote)
    assert speaks(log) == [REMOTES[kind]["era"]] * 2


def test_a_remote_restarted_gracefully_finishes_the_calls_it_was_running_and_is_used_again(tmp_path: Path) -> None:
    port = free_port()
    remote = start_remote_bosun(port)
    log = tmp_path / "bridge.log"
    bridge = bridge_to(remote.url, log, name="rolling", backoff_initial=0.1)
    answers: list[httpx.Response] = []

    def nap() -> None:
        with httpx.Client(timeout=15) as http:
            answers.append(_call(http, bridge.url, tool="nap", arguments={"seconds": 1.5}))

    try:
        with httpx.Client(timeout=15) as http:
            assert _call(http, bridge.url).status_code == 200
            napping = threading.Thread(target=nap)
            napping.start()
            time.sleep(0.5)
            remote.process.terminate()  # SIGTERM: it ends its listen streams at once and finishes what it runs
            napping.join(10)
            assert answers[0].status_code == 200, answers[0].text
            assert answers[0].json()["result"]["content"][0]["text"] == "slept 1.5"
            remote.process.wait(10)
            remote = start_remote_bosun(port)
            eventually(lambda: _call(http, bridge.url).status_code == 200, 10, "the restarted remote was not used")
    finally:
        stop_server(bridge)
        stop_server(remote)
    assert "(the remote ended its subscriptions/listen stream)" in log.read_text()
    assert speaks(log) == ["2026-07-28"] * 2


def test_a_tool_call_that_may_have_reached_the_remote_is_never_sent_again_but_a_read_is(tmp_path: Path) -> None:
    remote = start_fastmcp()
    proxy = CuttingProxy(int(remote.url.split(":")[2].split("/")[0]))
    bridge = bridge_to(proxy.url, tmp_path / "bridge.log", name="cut")

    def text(answer: httpx.Response) -> str:
        assert answer.status_code == 200, answer.text
        result = answer.json()["result"]
        return str(result["content"][0]["text"] if "content" in result else result["contents"][0]["text"])

    try:
        with httpx.Client(timeout=15) as http:
            assert text(_call(http, bridge.url, tool="bump", arguments={})) == "1"
            proxy.cut.add(b'"name":"bump"')
            cut = _call(http, bridge.url, tool="bump", arguments={})
            assert proxy.cuts == 1
            assert cut.status_code == 503 and cut.headers["retry-after"], cut.text  # retryable: the client decides
            assert "was cut off" in cut.json()["error"]["message"]
            assert text(_call(http, bridge.url, tool="bump", arguments={})) == "3"  # it ran once, and was not sent again
            proxy.cut.add(b'"uri":"notes://reads"')
            read = modern_call(http, bridge.url, "resources/read", {"uri": "notes://reads"})
            assert proxy.cuts == 2 and text(read) == "2"  # read, cut, read again: the client got the second
    finally:
        stop_server(bridge)
        stop_server(remote)
        proxy.stop()


def test_a_2025_session_the_remote_forgets_is_replaced_and_an_idle_link_deletes_its_session(tmp_path: Path) -> None:
    remote_log = tmp_path / "fastmcp.log"
    remote = start_fastmcp(log=remote_log)
    log = tmp_path / "bridge.log"
    bridge = bridge_to(remote.url, log, name="sessions", idle_seconds=1.5)
    try:
        with httpx.Client(timeout=15) as http:
            assert modern_call(http, bridge.url, "tools/call", {"name": "end_session", "arguments": {}}).status_code == 200
            time.sleep(0.5)
            statuses: list[int] = []
            # A call that finds the old session fails (retryable), and so do calls within the backoff (a link that
            # ended this young counts as a crash); then one is served on a new session.
            eventually(lambda: statuses.append(_call(http, bridge.url).status_code) or statuses[-1] == 200, 5, str(statuses))
            assert set(statuses) <= {200, 503}, statuses
            assert "the remote ended its session (HTTP 404)" in log.read_text()
            assert speaks(log) == ["2025-11-25"] * 2
            ended = remote_log.read_text().count("Terminating session")
            eventually(lambda: remote_log.read_text().count("Terminating session") == ended + 1, 8,
                   "the idle link did not DELETE its session")
        assert '"HTTP Request: DELETE' in log.read_text()
    finally:
        stop_server(bridge)
        stop_server(remote)


def test_a_remote_over_tls_is_verified_against_the_bridges_ca_file(tmp_path: Path) -> None:
    ca_path, ca_cert, ca_key = make_ca(tmp_path, "remote-ca")
    remote = start_fastmcp(tls=make_server_cert(tmp_path, ca_cert, ca_key))
    trusting = bridge_to(remote.url, tmp_path / "trusting.log", remote={"ca_file": str(ca_path)}, name="tls")
    default = bridge_to(remote.url, tmp_path / "default.log", name="tls-default")
    try:
        with httpx.Client(timeout=15) as http:
            answer = _call(http, trusting.url, "over tls")
            assert answer.status_code == 200 and answer.json()["result"]["content"][0]["text"] == "fastmcp: over tls"
            refused = _call(http, default.url)  # the system's CAs do not know the test's CA
            assert refused.status_code == 503 and "certificate could not be verified" in refused.json()["error"]["message"]
    finally:
        for running in (trusting, default, remote):
            stop_server(running)
    assert "CERTIFICATE_VERIFY_FAILED" not in (tmp_path / "trusting.log").read_text()


def test_the_remote_gets_the_gateways_key_from_its_file_never_the_clients(tmp_path: Path) -> None:
    gateway_key, client_key = new_key(), new_key()
    (tmp_path / "remote-keys").write_text(f"gateway {hash_key(gateway_key)}\n")
    (tmp_path / "bridge-keys").write_text(f"alice {hash_key(client_key)}\n")
    (tmp_path / "gateway-key").write_text(gateway_key + "\n")
    audit = tmp_path / "audit.jsonl"
    remote = start_remote_bosun(env={"BOSUN_AUTH_API_KEYS_FILE": str(tmp_path / "remote-keys"), "BOSUN_AUDIT": "all",
                                     "BOSUN_AUDIT_LOG": str(audit)})
    fastmcp = start_fastmcp()
    log = tmp_path / "bridge.log"
    secured = {"BOSUN_AUTH_API_KEYS_FILE": str(tmp_path / "bridge-keys")}
    files = {"header_files": {"X-Api-Key": str(tmp_path / "gateway-key")}}
    bridges = [bridge_to(remote.url, log, secured, files, name="keyed"),
               bridge_to(fastmcp.url, tmp_path / "fastmcp-bridge.log", secured, files, name="keyed-fastmcp"),
               bridge_to(remote.url, tmp_path / "keyless.log", secured, name="keyless")]
    try:
        alice = {"authorization": f"Bearer {client_key}"}
        with httpx.Client(timeout=15) as http:
            assert _call(http, remote.url, headers=alice).status_code == 401  # the remote does not know alice's key
            answer = _call(http, bridges[0].url, "from alice", alice)
            assert answer.status_code == 200 and answer.json()["result"]["content"][0]["text"] == "from alice", answer.text
            # FastMCP says what reached it: the gateway's key from its file, and no Authorization (alice's token).
            seen = _call(http, bridges[1].url, headers=alice, tool="whoami", arguments={})
            assert json.loads(seen.json()["result"]["content"][0]["text"]) == {"authorization": None, "x-api-key": gateway_key}
            keyless = _call(http, bridges[2].url, headers=alice)  # a bridge without the key: alice's is not tried
            assert keyless.status_code == 503 and "HTTP 401" in keyless.json()["error"]["message"], keyless.text
    finally:
        for running in (*bridges, remote, fastmcp):
            stop_server(running)
    records = [json.loads(line)["audit"] for line in audit.read_text().splitlines()]
    callers = {record.get("client_id") for record in records if record.get("outcome") == "ok"}
    assert callers == {"gateway"}, records  # every call the remote served came with the gateway's key
    text = log.read_text() + (tmp_path / "fastmcp-bridge.log").read_text()
    assert gateway_key not in text and client_key not in text  # neither key was logged


def test_oauth_client_credentials_are_fetched_once_reused_renewed_before_expiry_and_after_a_401(tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    provider = OidcProvider(tmp_path, [resource], ttl=6)  # 4/5 of it (4.8 s) leaves a loaded machine time for 5 calls
    provider.start()
    counter = TokenCounter(provider.issuer)
    (tmp_path / "client-secret").write_text("writer-secret\n")
    remote = start_remote_bosun(port, auth_env(provider, resource, BOSUN_AUTH_SCOPES="mcp"))
    log = tmp_path / "bridge.log"
    oauth = {"oauth_token_url": counter.url, "oauth_client_id": "writer", "oauth_scope": "mcp",
             "oauth_client_secret_file": str(tmp_path / "client-secret")}
    bridge = bridge_to(resource, log, remote=oauth, name="oauth")
    try:
        with httpx.Client(timeout=15) as http:
            first = time.monotonic()
            for index in range(5):
                assert _call(http, bridge.url, f"call {index}").status_code == 200
            assert len(counter.requests) == 1  # one token for the handshake, the listen stream, the lists and 5 calls
            request = counter.requests[0]
            assert request["basic"] and request["form"] == {"grant_type": "client_credentials", "resource": resource,
                                                             "scope": "mcp"}
            time.sleep(max(0.0, first + 5.0 - time.monotonic()))  # past 4/5 of the token's 6 s life
            assert _call(http, bridge.url).status_code == 200
            assert len(counter.requests) == 2  # renewed before it expired: no call was refused for it
            provider.rotate()  # new signing keys: the token the bridge holds is no longer valid
            fresh = provider.token("reader", resource)  # another client's token makes the remote read the new keys
            assert _call(http, remote.url, headers={"authorization": f"Bearer {fresh}"}).status_code == 200
            assert _call(http, bridge.url, "after rotation").status_code == 200  # 401, one new token, sent again
            assert len(counter.requests) == 3 and all(request["status"] == 200 for request in counter.requests)
            assert log.read_text().count("refused the bridge's credentials (HTTP 401); renewing them") == 1
    finally:
        stop_server(bridge)
        stop_server(remote)
        counter.stop()
        provider.stop()
    text = log.read_text()
    assert not any(token in text for token in counter.tokens) and "writer-secret" not in text


def test_the_remote_is_described_by_one_variable_and_its_mistakes_fail_the_start(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("secret-value\n")
    good = {"url": "https://mcp.example/mcp", "header_files": {"X-Api-Key": str(key)}, "retries": 1}
    options = options_from_environment({"BOSUN_BRIDGE_REMOTE": json.dumps(good), "BOSUN_BRIDGE_NAME": "remote"})
    assert options.remote == RemoteOptions(**good) and options.command == ()  # type: ignore[arg-type]
    mistakes = {
        '{"url": "https://mcp.example/mcp", "retry": 1}': "unknown field 'retry'",
        '{"url": "ftp://mcp.example"}': "url: an http:// or https:// URL",
        '{"url": "https://m/mcp", "headers": {"Authorization": "Bearer x"}}': "a credential belongs in header_files",
        '{"url": "https://m/mcp", "header_files": {"X-Key": "/nonexistent/key"}}': "cannot be read",
        '{"url": "https://m/mcp", "oauth_token_url": "https://idp/token"}': "give oauth_token_url, oauth_client_id",
        '{"url": "https://m/mcp", "headers": {"Mcp-Session-Id": "x"}}': "is not a header the bridge may set",
    }
    for text, expected in mistakes.items():
        with pytest.raises(ValueError, match=expected):
            options_from_environment({"BOSUN_BRIDGE_REMOTE": text})
    with pytest.raises(ValueError, match="give one of them, not both"):
        options_from_environment({"BOSUN_BRIDGE_REMOTE": json.dumps(good), "BOSUN_BRIDGE_COMMAND": "server --stdio"})
    assert "secret-value" not in repr(options)  # the options hold the file's name, never its content
