"""One child process speaking MCP over stdio: started in its own process group, stopped for sure.

The complaints users of other bridges file most are leaked children and zombies. So:

* every child is the leader of a new process group (`start_new_session`), and stopping it signals
  the whole group: `npx` and the `node` it starts go together;
* stopping is graceful first and certain last: close stdin (the MCP way to end a stdio server),
  then SIGTERM to the group (with SIGCONT, so a stopped child hears it), then SIGKILL to the group;
* the leader is always waited for, so it never stays a zombie; when it exits on its own (a crash,
  kill -9), what it left in its group is killed at once: `npx` dying must not leave its `node`
  running with nobody to stop it;
* stopping happens once: a second `stop` (the idle reaper, a session's end, shutdown) waits for the
  first, and a caller that is cancelled while waiting does not cut the sequence short;
* its environment is only what the operator allowed (`environment`), never Bosun's own;
* resource limits go through util-linux's `prlimit`, which sets them and then execs the command
  (no `preexec_fn`, which is unsafe in a threaded process);
* stderr is read all the time (a full pipe would block the child) and only its last lines are kept,
  for the log when the child exits. Its stdout lines are bounded by `max_line_bytes`;
* it is started by `subprocess.Popen` (fork and exec in C, `close_fds`), not the event loop's
  subprocess support: under uvloop (0.23) every child kept a second copy of its own stdio fds, so
  a child that closed its stdout was never seen to, and `close_fds` was not honoured. Its pipes are
  then handed to the loop, and its exit is watched through a pidfd, on either loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import IO

from bosun.ops.logs import bounded, redact

log = logging.getLogger("bosun.bridge")
_STDERR_LINES = 20
_STDERR_SETTLE = 0.5  # how long an exit's log waits for the stderr the child wrote just before it


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
    """`argv`, run under `prlimit` when any limit is set (the limits apply before the command runs), and under
    `setpriv --pdeathsig KILL` where util-linux has it: if Bosun itself is killed (SIGKILL, the OOM killer),
    the kernel kills the child too, rather than leaving it running with no one to stop it."""
    wanted = []
    if memory_bytes:
        wanted.append(f"--as={memory_bytes}")
    if cpu_seconds:
        wanted.append(f"--cpu={cpu_seconds}")
    if open_files:
        wanted.append(f"--nofile={open_files}")
    command = list(argv)
    if wanted:
        prlimit = shutil.which("prlimit")
        if prlimit is None:
            raise ChildStartFailed("resource limits need util-linux's prlimit, which is not on PATH")
        command = [prlimit, *wanted, "--", *command]
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *command] if setpriv is not None else command


class ChildProcess:
    """A started child: its pipes, its group, its exit."""

    def __init__(self, process: subprocess.Popen[bytes], stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader,
                 stderr: asyncio.StreamReader, shown: str, name: str) -> None:
        self.process = process
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.pid = process.pid
        loop = asyncio.get_running_loop()
        self._exit: asyncio.Future[int] = loop.create_future()
        self._pidfd = -1
        if hasattr(os, "pidfd_open"):  # Linux: readable once the process has exited
            self._pidfd = os.pidfd_open(process.pid)
            loop.add_reader(self._pidfd, self._exited)
        else:  # elsewhere (a developer's Mac): a thread waits for it
            loop.run_in_executor(None, process.wait).add_done_callback(lambda _: loop.call_soon(self._exited))
        self.shown = shown
        self.name = name
        self.started = time.monotonic()
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_LINES)
        self.reason = "exited"  # why it ended, for the log: exited, stopped, killed, or what cut it off
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        self._exit_logged = False
        self._group_done = False  # the group was killed after the leader's exit: its id may be reused now
        self._stopping: asyncio.Task[int] | None = None
        self._outbox: list[bytes] = []  # messages queued this loop turn, written together by `_flush`

    @classmethod
    async def start(cls, argv: Sequence[str], environment: Mapping[str, str], max_line_bytes: int, name: str,
                    cwd: str | None = None, secrets: Sequence[str] = ()) -> ChildProcess:
        shown = shown_command(argv, secrets)
        try:
            process = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       env=dict(environment), cwd=cwd, start_new_session=True, close_fds=True, bufsize=0)
        except OSError as failure:
            log.error("bridge %s: could not start %s: %s", name, shown, failure.strerror or type(failure).__name__)
            raise ChildStartFailed(f"could not start the server's command ({failure.strerror or 'error'})") from None
        log.info("bridge %s: started pid %d: %s", name, process.pid, shown)
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        loop = asyncio.get_running_loop()
        try:
            stdout = await _reader(loop, process.stdout, max_line_bytes)
            stderr = await _reader(loop, process.stderr, max_line_bytes)
            transport, protocol = await loop.connect_write_pipe(lambda: asyncio.streams.FlowControlMixin(loop), process.stdin)
            return cls(process, asyncio.StreamWriter(transport, protocol, None, loop), stdout, stderr, shown, name)
        except BaseException:  # not one of ours after all: it must not outlive this
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise

    @property
    def label(self) -> str:
        """How the log names it."""
        return f"pid {self.pid}"

    @property
    def alive(self) -> bool:
        return not self._exit.done()

    def _exited(self) -> None:
        """The pidfd is readable: reap the leader (so it is no zombie) and say so to whoever waits."""
        code = self.process.poll()
        if code is None:
            return
        if self._pidfd >= 0:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        if not self._exit.done():
            self._exit.set_result(code)

    async def exited(self) -> int:
        """The leader's exit code once it has exited, and nothing more (no clean-up, no log)."""
        return await asyncio.shield(self._exit)

    async def _drain_stderr(self) -> None:
        stream = self.stderr
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
        """Queue one message for the child's stdin. What one loop turn queues leaves in one write: sixteen calls
        arriving together cost one system call, not sixteen (the pipe's transport buffers; `drain` applies
        back-pressure once it has them)."""
        if self.stdin.is_closing():
            raise BrokenPipeError("the child's stdin is closed")
        self._outbox.append(data)
        if len(self._outbox) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        data, self._outbox = b"".join(self._outbox), []
        if not self.stdin.is_closing():
            self.stdin.write(data)

    async def drain(self) -> None:
        if self._outbox:
            await asyncio.sleep(0)  # the flush runs first, so the transport's back-pressure sees this message
        await self.stdin.drain()

    async def wait(self) -> int:
        """The leader's exit code, once it has exited; the rest of its group is killed and the exit logged."""
        code = await self.exited()
        await self._after_exit(code)
        return code

    async def _after_exit(self, code: int) -> None:
        self._kill_leftovers()
        self.stdin.close()  # nobody reads it any more: its pipe goes now, not when Bosun exits
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            # The lines a crashing child writes just before it dies are the ones worth logging: give the
            # reader the moment it needs to take them (a grandchild still holding the pipe only costs this wait).
            await asyncio.wait_for(asyncio.shield(self._stderr_task), _STDERR_SETTLE)
        self._log_exit(code)

    def _kill_leftovers(self) -> None:
        """SIGKILL what the leader left in its group, once, right after its exit: while any member lives the
        group's id cannot be reused, but once it is empty a later signal could reach a stranger."""
        if not self._group_done:
            self._group_done = True
            self._signal_group(signal.SIGKILL)

    def _log_exit(self, code: int) -> None:
        if self._exit_logged:
            return
        self._exit_logged = True
        lived = time.monotonic() - self.started
        tail = " | ".join(self.stderr_tail)
        reason = self.reason
        if code < 0 and reason == "exited":
            with contextlib.suppress(ValueError):
                reason = f"killed by {signal.Signals(-code).name}"
        level = logging.INFO if reason.startswith("stopped") else logging.WARNING
        log.log(level, "bridge %s: pid %d exited with code %s after %.1fs (%s)%s", self.name, self.pid, code, lived,
                reason, f"; last stderr: {bounded(tail, 2000)}" if tail else "")

    def _signal_group(self, signum: int) -> bool:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)
            return True
        return False

    async def stop(self, grace: float = 2.0, reason: str = "stopped") -> int:
        """Close stdin, then SIGTERM the group, then SIGKILL it; always reaps the leader. Only the first
        call runs the sequence (its reason is the one logged); the others wait for it to finish."""
        if self._stopping is None:
            if self.alive:
                self.reason = reason
            self._stopping = asyncio.create_task(self._stop(grace))
        return await asyncio.shield(self._stopping)

    async def _stop(self, grace: float) -> int:
        if not self.stdin.is_closing():
            with contextlib.suppress(Exception):
                self.stdin.close()
        code: int | None = None
        for signum in (None, signal.SIGTERM, signal.SIGKILL):
            if signum is not None and not self._group_done:
                self._signal_group(signum)
                if signum == signal.SIGTERM:
                    self._signal_group(signal.SIGCONT)  # a stopped child cannot act on SIGTERM until it runs
            try:
                code = await asyncio.wait_for(self.exited(), grace)
                break
            except TimeoutError:
                continue
        if code is None:
            code = await self.exited()
        await self._after_exit(code)  # whatever the leader left behind in its group, then the log
        self._stderr_task.cancel()
        return code


async def _reader(loop: asyncio.AbstractEventLoop, pipe: IO[bytes], limit: int) -> asyncio.StreamReader:
    """A stream over our end of one of the child's output pipes, whose lines are bounded by `limit`."""
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe)
    return reader
