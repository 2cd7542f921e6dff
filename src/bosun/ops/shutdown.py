"""Graceful shutdown: what SIGTERM sets in motion, in the order Kubernetes needs.

1. At once: readiness turns 503, so endpoints controllers stop routing here.
2. For `drain_seconds`: requests are still served (endpoint removal lags behind
   the probe by several seconds across a cluster).
3. Then: long-lived streams are ended properly (a `subscriptions/listen` stream
   gets its closing response), uvicorn stops accepting connections, and
   in-flight requests get up to `graceful_timeout` seconds to finish.
4. Finally lifespan shutdown closes pools and the process exits 0.

`DrainingServer` is a uvicorn `Server` whose signal handling does steps 1-3;
apps register what draining and closing mean for them with `on_drain`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

log = logging.getLogger("bosun.shutdown")
_begin: list[Callable[[], None]] = []
_close: list[Callable[[], None]] = []


def on_drain(begin: Callable[[], None], close: Callable[[], None]) -> None:
    """Register `begin` (run when draining starts) and `close` (run when streams must end)."""
    _begin.append(begin)
    _close.append(close)


def begin_drain() -> None:
    for callback in _begin:
        callback()


def close_streams() -> None:
    for callback in _close:
        callback()


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self.drain_seconds <= 0:
            # No drain period, or a second signal while draining, which means "now".
            close_streams()
            super().handle_exit(sig, frame)
            self._exit_cleanly()
            return
        self._draining = True
        log.info("received %s: not ready from now on, stopping in %.1fs", signal.Signals(sig).name, self.drain_seconds)
        begin_drain()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            close_streams()
            super().handle_exit(sig, frame)
            return
        loop.call_soon_threadsafe(loop.call_later, self.drain_seconds, self._finish, sig, frame)

    def _finish(self, sig: int, frame: FrameType | None) -> None:
        log.info("drain period over: closing streams and finishing in-flight requests")
        close_streams()
        super().handle_exit(sig, frame)
        self._exit_cleanly()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop taking connections without resetting the ones the kernel has already queued."""
        listeners = [sock for server in self.servers for sock in server.sockets or ()]
        if refuse_new_connections([*listeners, *(sockets or ())]):
            await asyncio.sleep(_ACCEPT_QUEUE_SECONDS)  # the event loop accepts what is queued; those get answered
        await super().shutdown(sockets)

    def _exit_cleanly(self) -> None:
        """uvicorn re-raises the signal once it has stopped, so the process dies of SIGTERM; a drained
        shutdown is a clean one and exits 0."""
        self._captured_signals = [sig for sig in self._captured_signals if sig != signal.SIGTERM]


_ACCEPT_QUEUE_SECONDS = 0.2
_SO_ATTACH_FILTER = 26  # Linux <asm-generic/socket.h>


def refuse_new_connections(listeners: list[Any]) -> bool:
    """Make the listening sockets drop new connection attempts, so they end as "connection refused".

    Closing a listener resets every connection still in its accept queue: clients whose `connect`
    already succeeded and who are sending a request would see a reset. A socket filter that drops
    every packet stops new handshakes from completing (the client retries its SYN, finds the port
    closed and gets a refusal) while the queue is emptied by accepting. Linux only; elsewhere a no-op.
    """
    if sys.platform != "linux":
        return False
    import ctypes  # here, once per process at drain: it costs start-up 2 ms and its memory 0.7 MB

    instruction = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0))  # BPF_RET | BPF_K: keep 0 bytes
    program = struct.pack("HL", 1, ctypes.addressof(instruction))
    attached = False
    for listener in listeners:
        try:
            with socket.socket(fileno=os.dup(listener.fileno())) as duplicate:
                duplicate.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, program)
            attached = True
        except (OSError, ValueError) as exc:
            log.debug("could not filter listener: %s", exc)
    return attached


WORKER_SIGNALS_ENV = "BOSUN_DRAIN_SIGNALS"


async def install_worker_signals() -> None:
    """In a worker of a multi-process server, SIGUSR1 begins draining and SIGUSR2 closes streams.

    The supervisor (`DrainingMultiprocess`) owns SIGTERM there; it sends these first.
    """
    if os.environ.get(WORKER_SIGNALS_ENV) != "1":
        return
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, begin_drain)
    loop.add_signal_handler(signal.SIGUSR2, close_streams)


class DrainingMultiprocess(Multiprocess):
    """uvicorn's worker supervisor, with the same drain sequence as `DrainingServer`."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], drain_seconds: float) -> None:
        super().__init__(config, sockets)
        self.drain_seconds = drain_seconds
        self._draining = False

    def _signal_workers(self, sig: int) -> None:
        for process in self.processes:
            with contextlib.suppress(OSError, AttributeError, TypeError):
                os.kill(process.pid, sig)  # type: ignore[arg-type]

    def _finish(self) -> None:
        refuse_new_connections(self.sockets)
        time.sleep(_ACCEPT_QUEUE_SECONDS)  # the workers accept what is queued before they close the listener
        self._signal_workers(signal.SIGUSR2)
        self.should_exit.set()

    def handle_term(self) -> None:
        if self._draining or self.drain_seconds <= 0:
            self._finish()
            return
        self._draining = True
        log.info("received SIGTERM: workers not ready from now on, stopping in %.1fs", self.drain_seconds)
        self._signal_workers(signal.SIGUSR1)
        timer = threading.Timer(self.drain_seconds, self._finish)
        timer.daemon = True
        timer.start()

    handle_int = handle_term

    def keep_subprocess_alive(self) -> None:
        """uvicorn replaces a worker that died; its last metric values (a `mcp_ready 1`) must not outlive it."""
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            for pid in before - {process.pid for process in self.processes}:
                if pid is not None:
                    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
