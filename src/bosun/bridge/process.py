"""One child process speaking MCP over stdio: started in its own process group, stopped for sure.

The complaints users of other bridges file most are leaked children and zombies. So:

* every child is the leader of a new process group (`start_new_session`), and stopping it signals
  the whole group: `npx` and the `node` it starts go together;
* stopping is graceful first and certain last: close stdin (the MCP way to end a stdio server),
  then SIGTERM to the group (with SIGCONT, so a stopped child hears it), then SIGKILL to the group;
* the leader is always waited for, so it never stays a zombie;
* its environment is only what the operator allowed (`environment`), never Bosun's own;
* resource limits go through util-linux's `prlimit`, which sets them and then execs the command
  (no `preexec_fn`, which is unsafe in a threaded process);
* stderr is read all the time (a full pipe would block the child) and only its last lines are kept,
  for the log when the child exits. Its stdout lines are bounded by `max_line_bytes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Mapping, Sequence

from bosun.ops.logs import bounded, redact

log = logging.getLogger("bosun.bridge")
_STDERR_LINES = 20


class ChildStartFailed(Exception):
    """The command could not be started at all (not found, not executable)."""


def shown_command(argv: Sequence[str], secrets: Sequence[str] = ()) -> str:
    """The command as the log shows it: credential shapes masked, and any configured secret value too."""
    text = " ".join(argv)
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return bounded(redact(text), 500)


def limited(argv: Sequence[str], memory_bytes: int | None, cpu_seconds: int | None, open_files: int | None) -> list[str]:
    """`argv`, run under `prlimit` when any limit is set (the limits apply before the command runs)."""
    wanted = []
    if memory_bytes:
        wanted.append(f"--as={memory_bytes}")
    if cpu_seconds:
        wanted.append(f"--cpu={cpu_seconds}")
    if open_files:
        wanted.append(f"--nofile={open_files}")
    if not wanted:
        return list(argv)
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise ChildStartFailed("resource limits need util-linux's prlimit, which is not on PATH")
    return [prlimit, *wanted, "--", *argv]


class ChildProcess:
    """A started child: its pipes, its group, its exit."""

    def __init__(self, process: asyncio.subprocess.Process, shown: str, name: str) -> None:
        self.process = process
        self.pid = process.pid
        self.shown = shown
        self.name = name
        self.started = time.monotonic()
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_LINES)
        self.reason = "exited"  # why it ended, for the log: exited, stopped, killed, or what cut it off
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        self._exit_logged = False

    @classmethod
    async def start(cls, argv: Sequence[str], environment: Mapping[str, str], max_line_bytes: int, name: str,
                    cwd: str | None = None, secrets: Sequence[str] = ()) -> ChildProcess:
        shown = shown_command(argv, secrets)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=dict(environment), cwd=cwd, start_new_session=True, limit=max_line_bytes)
        except OSError as failure:
            log.error("bridge %s: could not start %s: %s", name, shown, failure.strerror or type(failure).__name__)
            raise ChildStartFailed(f"could not start the server's command ({failure.strerror or 'error'})") from None
        log.info("bridge %s: started pid %d: %s", name, process.pid, shown)
        return cls(process, shown, name)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def _drain_stderr(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the limit: keep a mark, drop the rest of it
                with contextlib.suppress(Exception):
                    await stream.read(1 << 16)
                self.stderr_tail.append("[a line too long to keep]")
                continue
            except (OSError, asyncio.CancelledError):
                return
            if not line:
                return
            self.stderr_tail.append(bounded(redact(line.decode("utf-8", "replace").rstrip()), 300))

    def write(self, data: bytes) -> None:
        """Queue one message for the child's stdin (the pipe's transport buffers; `drain` applies back-pressure)."""
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing():
            raise BrokenPipeError("the child's stdin is closed")
        stdin.write(data)

    async def drain(self) -> None:
        stdin = self.process.stdin
        if stdin is not None:
            await stdin.drain()

    async def wait(self) -> int:
        code = await self.process.wait()
        self._log_exit(code)
        return code

    def _log_exit(self, code: int) -> None:
        if self._exit_logged:
            return
        self._exit_logged = True
        lived = time.monotonic() - self.started
        tail = " | ".join(self.stderr_tail)
        level = logging.INFO if self.reason == "stopped" else logging.WARNING
        log.log(level, "bridge %s: pid %d exited with code %s after %.1fs (%s)%s", self.name, self.pid, code, lived,
                self.reason, f"; last stderr: {bounded(tail, 2000)}" if tail else "")

    def _signal_group(self, signum: int) -> bool:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)
            return True
        return False

    async def stop(self, grace: float = 2.0, reason: str = "stopped") -> int | None:
        """Close stdin, then SIGTERM the group, then SIGKILL it; always reaps the leader."""
        if self.alive:
            self.reason = reason
        stdin = self.process.stdin
        if stdin is not None and not stdin.is_closing():
            with contextlib.suppress(Exception):
                stdin.close()
        code: int | None = None
        for signum in (None, signal.SIGTERM, signal.SIGKILL):
            if signum is not None:
                self._signal_group(signum)
                if signum == signal.SIGTERM:
                    self._signal_group(signal.SIGCONT)  # a stopped child cannot act on SIGTERM until it runs
            try:
                code = await asyncio.wait_for(asyncio.shield(self.process.wait()), grace)
                break
            except TimeoutError:
                continue
        self._signal_group(signal.SIGKILL)  # whatever the leader left behind in its group
        if code is None:
            code = await self.process.wait()
        self._log_exit(code)
        self._stderr_task.cancel()
        return code
