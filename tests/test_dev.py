"""`bosun dev`: restarts when the server's file changes, answers with error details, and Ctrl+C exits at once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from conftest import BOSUN, ROOT, free_port, meta, modern_call, modern_headers


def _tools(http: httpx.Client, url: str) -> list[str]:
    return [tool["name"] for tool in modern_call(http, url, "tools/list").json()["result"]["tools"]]


def _wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} within {seconds}s")


def test_dev_reloads_on_change_shows_details_and_stops_at_once(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    shutil.copy(ROOT / "examples" / "hello.py", app)
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    process = subprocess.Popen([BOSUN, "dev", "app.py", "--port", str(port)], cwd=tmp_path, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        with httpx.Client(timeout=5) as http:
            _wait_for(lambda: "add" in _tools(http, url), 20, "the server did not start")
            assert "divide" not in _tools(http, url)
            time.sleep(1)  # the reloader records the files' times on its first scan, a moment after the server starts
            app.write_text(app.read_text().replace('\n\nif __name__ == "__main__":', '''

@server.tool()
def divide(a: int, b: int) -> float:
    return a / b


if __name__ == "__main__":'''))
            _wait_for(lambda: "divide" in _tools(http, url), 20, "the change was not picked up")
            crashed = modern_call(http, url, "tools/call", {"name": "divide", "arguments": {"a": 1, "b": 0}}).json()
            assert crashed["result"]["content"][0]["text"].endswith("ZeroDivisionError: division by zero")  # details in dev
            listen = {"jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen",
                      "params": {"notifications": {"toolsListChanged": True}, "_meta": meta()}}
            stream = http.stream("POST", url, json=listen, headers=modern_headers("subscriptions/listen"))
            response = stream.__enter__()  # an open stream, as a connected client holds
            assert "acknowledged" in next(line for line in response.iter_lines() if line.startswith("data:"))
            started = time.monotonic()
            process.send_signal(signal.SIGINT)  # what Ctrl+C sends to the foreground process group
            process.wait(10)
            took = time.monotonic() - started
            stream.__exit__(None, None, None)
        assert took < 3, f"Ctrl+C took {took:.1f}s"
        deadline = time.monotonic() + 3  # multiprocessing's resource tracker exits once the server has
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _group_alive(process.pid), "the reloader left its server process running"
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)  # the reloader and the server it spawned
        process.wait()
        assert process.stderr is not None
        process.stderr.close()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
