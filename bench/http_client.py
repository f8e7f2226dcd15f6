"""A small HTTP/1.1 keep-alive client on asyncio streams, and a fixed-count load generator built on it.

httpx spends more CPU per request than a one-core server spends answering it; on a shared two-core
machine the client would then measure itself. This client sends pre-encoded requests and parses just
enough of the answer (status, headers, a Content-Length or chunked body).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

__all__ = ["ConnectionPool", "HttpConnection", "HttpResponse", "LoadResult", "encode_request", "run_fixed_load"]

_NO_BODY = {204, 304}


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


def encode_request(method: str, path: str, *, host: str, body: bytes = b"",
                   headers: Mapping[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are expected
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _read_response(reader: asyncio.StreamReader) -> HttpResponse:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    elif status in _NO_BODY or 100 <= status < 200:
        body = b""
    else:
        body = await reader.read()  # delimited by the server closing the connection
        headers["connection"] = "close"
    return HttpResponse(status, headers, body)


class HttpConnection:
    """One keep-alive connection, opened on first use and again after the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.authority = f"{host}:{port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def send(self, request: bytes) -> HttpResponse:
        """Send one encoded request and read its answer.

        A reused connection the server has meanwhile closed (its idle timeout) answers with an
        immediate EOF before reading anything: that one case is retried, once, on a new connection.
        """
        reused = self._writer is not None
        try:
            return await self._exchange(request)
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as exc:
            self.close()
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
        return await self._exchange(request)

    async def _exchange(self, request: bytes) -> HttpResponse:
        reader, writer = await self.open()
        try:
            writer.write(request)
            await writer.drain()
            response = await _read_response(reader)
        except BaseException:
            self.close()
            raise
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    async def request(self, method: str, path: str, *, body: bytes = b"",
                      headers: Mapping[str, str] | None = None) -> HttpResponse:
        return await self.send(encode_request(method, path, host=self.authority, body=body, headers=headers))


class ConnectionPool:
    """At most ``size`` connections to one server, shared by any number of tasks."""

    def __init__(self, host: str, port: int, size: int, headers: Mapping[str, str] | None = None) -> None:
        self.headers = dict(headers or {})
        self._idle: asyncio.LifoQueue[HttpConnection] = asyncio.LifoQueue()
        self._all = [HttpConnection(host, port) for _ in range(size)]
        for connection in self._all:
            self._idle.put_nowait(connection)

    async def request(self, method: str, path: str, *, json: Any = None) -> HttpResponse:
        headers = self.headers
        body = b""
        if json is not None:
            body = msgspec.json.encode(json)
            headers = {**headers, "Content-Type": "application/json"}
        connection = await self._idle.get()
        try:
            return await connection.request(method, path, body=body, headers=headers)
        finally:
            self._idle.put_nowait(connection)

    def close(self) -> None:
        for connection in self._all:
            connection.close()


@dataclass
class LoadResult:
    label: str
    sent: int = 0
    accepted: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered request
    failures: int = 0
    failure_examples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    timed_out: bool = False

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0

    def fail(self, what: str) -> None:
        self.failures += 1
        if len(self.failure_examples) < 5:
            self.failure_examples.append(what)


class _Progress:
    """A line on stderr once a second: rewritten in place on a terminal, appended otherwise."""

    def __init__(self, result: LoadResult, total: int) -> None:
        self.result = result
        self.total = total
        self.tty = sys.stderr.isatty()

    def show(self, elapsed: float, final: bool = False) -> None:
        r = self.result
        text = f"  {r.label}: {r.sent}/{self.total} sent, {r.failures} failed, {r.accepted / max(elapsed, 1e-9):,.0f}/s"
        end = "\n" if final or not self.tty else ""
        print(("\r" if self.tty else "") + text, end=end, file=sys.stderr, flush=True)

    async def run(self, started: float) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.show(time.perf_counter() - started)


async def run_fixed_load(host: str, port: int, requests: Sequence[bytes], *, connections: int, label: str,
                         accept: Callable[[HttpResponse], bool], time_limit: float) -> LoadResult:
    """Send every request once over ``connections`` keep-alive connections, each as soon as its
    connection is free (a closed loop), and time each exchange. Stops early at ``time_limit`` seconds."""
    result = LoadResult(label)
    pool = [HttpConnection(host, port) for _ in range(connections)]
    await asyncio.gather(*(c.open() for c in pool))
    indices = iter(range(len(requests)))  # shared: each request goes out on exactly one connection
    started = time.perf_counter()
    stop_at = started + time_limit

    async def drive(connection: HttpConnection) -> None:
        for index in indices:
            sent_at = time.perf_counter()
            if sent_at > stop_at:
                result.timed_out = True
                return
            result.sent += 1
            try:
                response = await connection.send(requests[index])
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                result.fail(f"{type(exc).__name__}: {exc}")
                continue
            result.latencies.append(time.perf_counter() - sent_at)
            if accept(response):
                result.accepted += 1
            else:
                result.fail(f"{response.status} {response.body[:200]!r}")

    progress = _Progress(result, len(requests))
    reporter = asyncio.create_task(progress.run(started))
    try:
        await asyncio.gather(*(drive(c) for c in pool))
    finally:
        result.elapsed = time.perf_counter() - started
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        for connection in pool:
            connection.close()
    progress.show(result.elapsed, final=True)
    return result
