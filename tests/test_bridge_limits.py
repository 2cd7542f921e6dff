"""The bridge's limits (issue 23, item 6) and its timeouts, idle shutdown and caps (item 5), on real children.

A child that floods or writes garbage is cut off with a clear error and never costs Bosun its memory;
resource limits are read back from /proc/<child>/limits; the child's environment is read back by
server-everything's own `get-env` tool, with Bosun started holding secrets it must not pass on.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
from bridge_children import EVERYTHING, PYTHON_CHILD, child_pids, start_bridge
from polling import eventually
from test_bridge_lifecycle import call, exit_logged, group_members, messages, text_of

from conftest import modern_call, modern_headers, stop_server


def status_kib(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


def test_a_line_over_the_limit_cuts_the_child_off_and_bosun_stays_small(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    running = start_bridge([*PYTHON_CHILD, "flood"], log=log, name="flood", max_line_bytes=1 << 20)
    try:
        with httpx.Client(timeout=30) as http:
            assert modern_call(http, running.url, "tools/list").status_code == 200  # the child is up, Bosun warm
        server = running.process.pid
        rss, peak = status_kib(server, "VmRSS"), status_kib(server, "VmHWM")
        answer = call(running, "echo", {"message": "one line of 64 MiB, please"})  # the child answers with one
        assert answer.status_code == 503, answer.text
        assert "it wrote a line longer than the bridge's max line size" in answer.json()["error"]["message"]
        rss_after, peak_after = status_kib(server, "VmRSS"), status_kib(server, "VmHWM")
        print(f"Bosun's RSS {rss} -> {rss_after} KiB, peak {peak} -> {peak_after} KiB, after a 64 MiB line")
        assert peak_after - peak < 24 << 10 and rss_after - rss < 24 << 10, (rss, rss_after, peak, peak_after)
        pid = child_pids(log)[-1]
        exit_line = exit_logged(log, pid, 5, "the cut-off logged")
        assert "(cut off: line too long)" in exit_line, exit_line
        eventually(lambda: not group_members({pid}), 3, "the flooding child gone")
    finally:
        stop_server(running)


def test_a_child_writing_garbage_is_cut_off_after_100_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    running = start_bridge([*PYTHON_CHILD, "garbage"], log=log, name="garbage")
    try:
        answer = call(running, "echo", {"message": "say something sensible"})
        assert answer.status_code == 503, answer.text
        assert "it wrote too many lines that are not JSON-RPC" in answer.json()["error"]["message"]
        pid = child_pids(log)[-1]
        exit_logged(log, pid, 5, "the cut-off logged")
        samples = [m.rsplit(": ", 1)[1] for m in messages(log) if "wrote a line that is not JSON-RPC" in m]
        assert samples == ["garbage 1", "garbage 20", "garbage 40", "garbage 60", "garbage 80", "garbage 100"], samples
        assert any(f"pid {pid} wrote more than 100 lines that are not JSON-RPC" in m for m in messages(log))
        assert any(f"pid {pid} exited" in m and "(cut off: not speaking JSON-RPC)" in m for m in messages(log))
    finally:
        stop_server(running)


def test_memory_cpu_and_open_file_limits_apply_to_the_child(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    running = start_bridge([*PYTHON_CHILD, "memory-hog"], log=log, name="limited", memory_bytes=256 << 20,
                           cpu_seconds=7, open_files=64)
    try:
        with httpx.Client(timeout=30) as http:
            assert modern_call(http, running.url, "tools/list").status_code == 200
        pid = child_pids(log)[-1]
        limits = {line[:26].strip(): line[26:].split()[:2] for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]}
        assert limits["Max address space"] == [str(256 << 20)] * 2, limits
        assert limits["Max cpu time"] == ["7", "7"], limits
        assert limits["Max open files"] == ["64", "64"], limits
        assert text_of(call(running, "echo")) == "MemoryError"  # 512 MiB does not fit in 256
    finally:
        stop_server(running)


def test_the_childs_environment_is_clean_and_the_clients_key_goes_nowhere(tmp_path: Path) -> None:
    from bosun.security.apikeys import hash_key

    client_key = "bsk_client-key-7f3a9c1e5b-0d4e6a8c2f"
    keys = tmp_path / "keys"
    keys.write_text(f"alice {hash_key(client_key)}\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "UPSTREAM_TOKEN").write_text("token-from-the-secrets-dir\n")
    held = {"REDIS_URL": "redis://:hunter2-redis@127.0.0.1:9/0", "DATABASE_URL": "postgresql://bosun:hunter3-db@127.0.0.1:9/db",
            "BOSUN_STATE_KEYS": "state-key-hunter4", "GITHUB_TOKEN": "ghp_hunter5hunter5hunter5"}
    log = tmp_path / "server.log"
    running = start_bridge(EVERYTHING, log=log, name="env", allow_environment="ALLOWED_SETTING", secrets_dir=str(secrets),
                           env={**held, "ALLOWED_SETTING": "allowed-value", "BOSUN_AUTH_API_KEYS_FILE": str(keys)})
    try:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "get-env", "arguments": {}, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "env", "version": "1"}}}}
        with httpx.Client(timeout=30) as http:
            refused = http.post(running.url, json=body, headers=modern_headers("tools/call", "get-env"))
            assert refused.status_code == 401
            seen = []
            for credential in ({"x-api-key": client_key}, {"authorization": f"Bearer {client_key}"}):
                answer = http.post(running.url, json=body, headers={**modern_headers("tools/call", "get-env"), **credential})
                seen.append(json.loads(text_of(answer)))
        for environment in seen:
            assert environment["ALLOWED_SETTING"] == "allowed-value"
            assert environment["UPSTREAM_TOKEN"] == "token-from-the-secrets-dir"
            assert environment["PATH"]
            for name in held:
                assert name not in environment, name
            text = json.dumps(environment)
            for value in [*held.values(), client_key, "hunter"]:
                assert value not in text, value
        assert client_key not in log.read_text()
    finally:
        stop_server(running)


def test_a_secret_in_the_command_line_is_masked_in_the_start_log(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "API_TOKEN").write_text("tok-4c1d2b9e8a\n")
    log = tmp_path / "server.log"
    command = [*PYTHON_CHILD, "normal", "--token", "tok-4c1d2b9e8a", "redis://:hunter2@cache:6379/0"]
    running = start_bridge(command, log=log, name="masked", secrets_dir=str(secrets))
    try:
        assert text_of(call(running, "echo", {"message": "hi"})) == "echo: hi"
        started = [m for m in messages(log) if "started pid" in m]
        assert len(started) == 1 and "misbehaving_child.py normal --token ***" in started[0], started
        text = log.read_text()
        assert "tok-4c1d2b9e8a" not in text and "hunter2" not in text
    finally:
        stop_server(running)


def test_an_idle_child_stops_but_not_during_a_long_call_and_the_next_call_starts_another(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    running = start_bridge([*PYTHON_CHILD, "normal"], log=log, name="idle", idle_seconds=1)
    try:
        # 3 s with a call open and no message: had the child been stopped as idle, this call would have failed.
        assert text_of(call(running, "wait", {"seconds": 3})) == "waited"
        first = child_pids(log)
        assert len(first) == 1
        exit_line = exit_logged(log, first[0], 4, "an idle stop")
        assert "(stopped (idle for 1s))" in exit_line, exit_line
        assert any(f"pid {first[0]} idle for 1s; stopping it" in m for m in messages(log))
        eventually(lambda: not group_members(set(first)), 3, "the idle child gone")
        assert text_of(call(running, "echo", {"message": "back"})) == "echo: back"
        assert len(child_pids(log)) == 2
    finally:
        stop_server(running)


def test_at_the_cap_of_children_a_request_bridge_answers_503_with_retry_after(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    running = start_bridge([*PYTHON_CHILD, "normal"], log=log, name="capped", isolation="request", max_children=2)
    try:
        with httpx.Client(timeout=30) as http:
            assert modern_call(http, running.url, "tools/list").status_code == 200
        answers: list[httpx.Response] = []
        callers = [threading.Thread(target=lambda: answers.append(call(running, "wait", {"seconds": 2}))) for _ in range(5)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(30)
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 200, 503, 503, 503], [answer.text for answer in answers]
        for answer in answers:
            if answer.status_code == 503:
                assert answer.headers["retry-after"] and "most children (2)" in answer.json()["error"]["message"]
        assert len(child_pids(log)) == 3  # the catalog's, then two at a time
    finally:
        stop_server(running)


def test_a_warm_bridge_is_ready_only_after_its_first_handshake(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    running = start_bridge([*PYTHON_CHILD, "normal", "--delay", "2"], log=log, name="warm", warm=1)
    try:
        seen = []
        with httpx.Client(timeout=10) as http:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                handshaken = any("speaks 2025-11-25" in m for m in messages(log))
                status = http.get(running.base + "/ready").status_code
                seen.append((status, handshaken))
                if status == 200:
                    break
                time.sleep(0.1)
        assert (503, False) in seen and seen[-1] == (200, True), seen
        assert all(handshaken for status, handshaken in seen if status == 200)
        assert len(child_pids(log)) == 1
        assert text_of(call(running, "echo", {"message": "warm"})) == "echo: warm"
        assert len(child_pids(log)) == 1  # the warm child serves the first call
    finally:
        stop_server(running)


def test_a_handshake_that_never_finishes_gives_the_caller_a_json_rpc_error(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    running = start_bridge([*PYTHON_CHILD, "slow-handshake"], log=log, name="mute", handshake_seconds=1)
    try:
        started = time.monotonic()
        answer = call(running, "echo", request_id="h")
        assert time.monotonic() - started < 3
        assert answer.status_code == 503 and answer.headers["retry-after"], answer.text
        body = answer.json()
        assert body["id"] == "h" and "it did not finish its handshake within 1s" in body["error"]["message"], body
        pid = child_pids(log)[-1]
        eventually(lambda: not group_members({pid}), 3, "the mute child stopped")
    finally:
        stop_server(running)
