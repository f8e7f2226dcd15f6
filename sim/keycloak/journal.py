"""What was asked of the fake: one entry per HTTP request, with the status it got.

Bodies are not kept: they carry passwords and client secrets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from sim.clock import VirtualClock

__all__ = ["RecordedRequest", "RequestJournal"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class RecordedRequest:
    at: float
    method: str
    path: str
    query: str
    status: int | None


class RequestJournal:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.entries: list[RecordedRequest] = []

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(list(self.entries))

    def __len__(self) -> int:
        return len(self.entries)

    def matching(self, method: str | None = None, path_contains: str = "") -> list[RecordedRequest]:
        return [entry for entry in self.entries
                if (method is None or entry.method == method) and path_contains in entry.path]

    def clear(self) -> None:
        self.entries.clear()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            at = self.clock.time()
            status: int | None = None
            recorded_already = False

            def note() -> None:
                nonlocal recorded_already
                if not recorded_already:
                    recorded_already = True
                    query = scope.get("query_string", b"").decode("latin-1")
                    self.entries.append(RecordedRequest(at, scope["method"], scope["path"], query, status))

            async def send_and_note(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                elif message["type"] == "http.response.body" and not message.get("more_body", False):
                    note()  # before the client can see the answer, so a caller never finds it missing
                await send(message)

            try:
                await app(scope, receive, send_and_note)
            finally:
                note()

        return recorded
