"""Serve a fake's ASGI app on a real socket: in the running event loop, or in a thread of its own.

``serve_asgi`` runs uvicorn as a task of the current loop (what ``sim up`` and the sandbox use).
``ThreadedServer`` runs it on a private loop in a daemon thread, for tests that call a fake with a
blocking client (``requests``, ``smtplib``) from the test's own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

__all__ = ["RunningServer", "ThreadedServer", "bind_preferred", "bind_socket", "serve_asgi"]


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    # IPPROTO_TCP named explicitly: asyncio turns Nagle's algorithm off only on sockets that say they are
    # TCP, and with it on, every answer written in two parts waits ~40 ms for a delayed ACK (a keep-alive
    # client then gets about 22 answers a second).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def bind_preferred(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket on ``port`` when it is free, else on one the system picks (compare
    ``getsockname()`` with ``port`` to tell). Binding is the test, so two programs starting at
    the same moment cannot both believe a port is theirs."""
    if port:
        try:
            return bind_socket(host, port)
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
    return bind_socket(host, 0)


@dataclass
class RunningServer:
    host: str
    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]
    requested_port: int = 0  # the port asked for; differs from ``port`` when it was taken

    @property
    def moved(self) -> bool:
        return bool(self.requested_port) and self.requested_port != self.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout=10)
        except TimeoutError:
            # a connection would not close: stop anyway (the host's other servers must stop too)
            self.server.force_exit = True
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self.task, timeout=2)
        except asyncio.CancelledError:
            pass


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside a host program: signals are the host's to handle, not each server's, and a
    failed start is an exception for the host, not ``sys.exit`` (uvicorn's answer on its own)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(sockets=sockets)
        except SystemExit as exc:
            raise RuntimeError(f"the server did not start (exit status {exc.code}); see the log above") from None


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="auto", timeout_graceful_shutdown=2)


async def serve_asgi(app: Any, host: str = "127.0.0.1", port: int = 0, *,
                     move_if_taken: bool = False) -> RunningServer:
    """Start serving ``app``; returns once the socket accepts connections.

    With ``move_if_taken``, a port in use is not an error: the server listens on a free one instead
    (``RunningServer.moved`` says so).
    """
    sock = bind_preferred(host, port) if move_if_taken else bind_socket(host, port)
    server = EmbeddedServer(_config(app))
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn:{sock.getsockname()[1]}")
    deadline = asyncio.get_running_loop().time() + 60
    while not server.started:
        if task.done() or asyncio.get_running_loop().time() > deadline:
            sock.close()
            if not task.done():
                task.cancel()
                raise RuntimeError(f"{app!r} did not start within 60 s")
            task.result()  # raises what stopped it
        await asyncio.sleep(0.01)
    return RunningServer(host, sock.getsockname()[1], server, task, port)


@contextlib.asynccontextmanager
async def served(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[RunningServer]:
    running = await serve_asgi(app, host, port)
    try:
        yield running
    finally:
        await running.stop()


class ThreadedServer:
    """uvicorn on a private loop in a daemon thread; ``with ThreadedServer(app) as server: server.url``."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self._sock = bind_socket(host, port)
        self.port = int(self._sock.getsockname()[1])
        self._server = EmbeddedServer(_config(app))
        self._thread = threading.Thread(target=self._run, name=f"sim-server:{self.port}", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        self.loop.close()

    def start(self) -> ThreadedServer:
        self._thread.start()
        started = threading.Event()

        def check() -> bool:
            return bool(self._server.started)

        while not check():
            if not self._thread.is_alive():
                raise RuntimeError(f"server for {self.app!r} stopped while starting")
            started.wait(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
