"""The SMTP fake: a real SMTP server that captures mail, with a store to inspect and faults to inject.

Serve it in the running event loop (``await smtp.start()``, or ``async with SmtpFake(...)``), or on
a private loop in a thread of its own for blocking clients such as ``smtplib``
(``smtp.start_in_thread()``, or ``with SmtpFake(...)``). Either way ``smtp.host`` and
``smtp.port`` say where it listens, and ``smtp.api_app`` is its Mailpit-like JSON API, web inbox
(at ``/``) and ``/__admin/`` API, an ASGI app to serve with ``sim.servers``.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from litestar import Litestar

from sim.clock import VirtualClock
from sim.seed import Seed
from sim.servers import bind_preferred, bind_socket
from sim.smtp.api import create_api_app
from sim.smtp.control import smtp_control
from sim.smtp.faults import SmtpFaults
from sim.smtp.inbox import InboxController
from sim.smtp.message import Message
from sim.smtp.server import CaptureHandler, CapturingSMTP, SmtpLogin
from sim.smtp.store import Mailbox, MailView, MessageStore, Predicate

__all__ = ["SmtpFake"]

_ID_LENGTH = 22  # as long as Mailpit's message ids
_THREAD_START_TIMEOUT = 10.0


class SmtpFake:
    def __init__(self, clock: VirtualClock, seed: Seed, *, host: str = "127.0.0.1", port: int = 0,
                 move_if_taken: bool = False) -> None:
        """``move_if_taken``: listen on a free port when ``port`` is in use, instead of failing."""
        self.clock = clock
        self.seed = seed
        self.store = MessageStore()
        self.faults = SmtpFaults(clock, seed)
        self._handler = CaptureHandler(self.store, self.faults, now=clock.now, next_id=self._next_message_id)
        self._requested = (host, port)
        self._move_if_taken = move_if_taken
        self._address: tuple[str, int] | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[CapturingSMTP] = set()
        self._api_app: Litestar | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None

    # where it listens

    @property
    def host(self) -> str:
        return self._listening()[0]

    @property
    def port(self) -> int:
        return self._listening()[1]

    @property
    def running(self) -> bool:
        return self._server is not None

    def _listening(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError("the SMTP fake is not serving: start it first")
        return self._address

    # serving in the running loop

    async def start(self) -> SmtpFake:
        if self._server is not None:
            raise RuntimeError("the SMTP fake is already serving")
        loop = asyncio.get_running_loop()
        # aiosmtpd's Controller cannot take port 0, so bind first and serve on that socket.
        sock = bind_preferred(*self._requested) if self._move_if_taken else bind_socket(*self._requested)
        self._server = await loop.create_server(
            lambda: CapturingSMTP(self._handler, connections=self._connections, loop=loop), sock=sock,
        )
        host, port = sock.getsockname()[:2]
        self._address = (str(host), int(port))
        return self

    async def stop(self) -> None:
        """Stop listening and close every open connection."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        connections = list(self._connections)
        for connection in connections:
            connection.close_connection()
        await asyncio.gather(*(connection.wait_closed() for connection in connections))
        await server.wait_closed()
        self._address = None

    async def __aenter__(self) -> SmtpFake:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # serving in a thread of its own

    def start_in_thread(self) -> SmtpFake:
        if self._thread is not None:
            raise RuntimeError("the SMTP fake is already serving in a thread")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve_until_stopped() -> None:
            self._thread_loop = asyncio.get_running_loop()
            self._thread_stop = asyncio.Event()
            try:
                await self.start()
            except Exception as error:  # handed to the caller of start_in_thread
                failure.append(error)
                return
            finally:
                ready.set()
            try:
                await self._thread_stop.wait()
            finally:
                await self.stop()

        def run() -> None:
            # asyncio.Runner cancels and awaits whatever is left when the loop closes.
            with asyncio.Runner() as runner:
                runner.run(serve_until_stopped())

        self._thread = threading.Thread(target=run, name="sim-smtp", daemon=True)
        self._thread.start()
        if not ready.wait(_THREAD_START_TIMEOUT):
            raise RuntimeError("the SMTP fake did not start in its thread")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop_in_thread(self) -> None:
        thread, loop, stop = self._thread, self._thread_loop, self._thread_stop
        if thread is None or loop is None or stop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        self._thread = self._thread_loop = self._thread_stop = None

    def __enter__(self) -> SmtpFake:
        return self.start_in_thread()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_in_thread()

    # inspecting

    @property
    def all_mail(self) -> MailView:
        return self.store.all

    @property
    def logins(self) -> list[SmtpLogin]:
        return list(self._handler.logins)

    def mailbox(self, name: str | None = None) -> Mailbox:
        """The mail of one namespace; without a name, a fresh one named from the seed."""
        return Mailbox(self.store, name or f"mb-{self.seed.hex('smtp.mailboxes', 10)}")

    def messages(self) -> list[Message]:
        return self.store.all.messages()

    def get(self, message_id: str) -> Message:
        return self.store.all.get(message_id)

    def search(self, query: str | None = None, *, to: str | None = None, sender: str | None = None,
               subject: str | None = None, contains: str | None = None,
               where: Predicate | None = None) -> list[Message]:
        return self.store.all.search(query, to=to, sender=sender, subject=subject, contains=contains,
                                     where=where)

    def latest(self, *, to: str | None = None, sender: str | None = None, subject: str | None = None,
               contains: str | None = None, where: Predicate | None = None) -> Message | None:
        return self.store.all.latest(to=to, sender=sender, subject=subject, contains=contains, where=where)

    async def wait_for(self, *, to: str | None = None, sender: str | None = None, subject: str | None = None,
                       contains: str | None = None, where: Predicate | None = None,
                       timeout: float = 5.0) -> Message:  # noqa: ASYNC109 - a deadline is part of what a test asks for, as in Mailpit clients
        return await self.store.all.wait_for(to=to, sender=sender, subject=subject, contains=contains,
                                             where=where, timeout=timeout)

    def wait_for_sync(self, *, to: str | None = None, sender: str | None = None, subject: str | None = None,
                      contains: str | None = None, where: Predicate | None = None,
                      timeout: float = 5.0) -> Message:
        return self.store.all.wait_for_sync(to=to, sender=sender, subject=subject, contains=contains,
                                            where=where, timeout=timeout)

    def delete(self, *message_ids: str) -> int:
        return self.store.all.delete(*message_ids)

    def clear(self) -> None:
        self.store.clear()

    def reset(self) -> None:
        """Forget all mail, logins, fault rules and the fault journal."""
        self.store.reset()
        self.faults.reset()
        self._handler.logins.clear()

    # the JSON API

    @property
    def api_app(self) -> Litestar:
        if self._api_app is None:
            self._api_app = create_api_app(self.store, self.faults, reset_all=self.reset,
                                           extra=[InboxController, smtp_control(self)])
        return self._api_app

    # internals

    def _next_message_id(self) -> str:
        return self.seed.token("smtp.message-ids", _ID_LENGTH)
