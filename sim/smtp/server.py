"""The SMTP side of the fake: an aiosmtpd protocol that captures mail and injects faults.

``CaptureHandler`` holds the SMTP semantics (what MAIL, RCPT, DATA and AUTH answer, what gets
stored); ``CapturingSMTP`` holds what only the connection can do: refuse a greeting, close after a
421, and drop the connection in the middle of DATA.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, syntax

from sim.smtp.faults import SmtpFaultRule, SmtpFaults
from sim.smtp.message import Message, parse_message
from sim.smtp.store import MessageStore

__all__ = ["SERVER_HOSTNAME", "CaptureHandler", "CapturingSMTP", "SmtpLogin"]

SERVER_HOSTNAME = "smtp.sim.test"


@dataclass(frozen=True)
class SmtpLogin:
    at: datetime
    peer: tuple[str, int] | None
    mechanism: str
    username: str
    password: str


class PlannedEnvelope(Envelope):
    """An envelope that knows which fault, decided at MAIL FROM, will answer its delivery."""

    def __init__(self) -> None:
        super().__init__()
        self.planned_fault: SmtpFaultRule | None = None


class QuietSession(Session):
    # aiosmtpd logs a deprecation warning on every write of login_data, which its own AUTH does.
    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


def _peer(session: Session | None) -> tuple[str, int] | None:
    peer = session.peer if session is not None else None
    return (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None


class CaptureHandler:
    """The aiosmtpd handler: accepts any login, stores every message, answers planned faults."""

    def __init__(self, store: MessageStore, faults: SmtpFaults, *, now: Callable[[], datetime],
                 next_id: Callable[[], str]) -> None:
        self.store = store
        self.faults = faults
        self.logins: list[SmtpLogin] = []
        self._now = now
        self._next_id = next_id

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        fault = self.faults.decide("AUTH")
        if fault is not None and fault.kind == "reply":
            self.faults.record(fault, "AUTH", peer=_peer(session), mail_from=None)
            return AuthResult(success=False, handled=False, message=fault.reply)
        if isinstance(auth_data, LoginPassword):
            self.logins.append(SmtpLogin(
                at=self._now(), peer=_peer(session), mechanism=mechanism,
                username=auth_data.login.decode("utf-8", "replace"),
                password=auth_data.password.decode("utf-8", "replace"),
            ))
        return AuthResult(success=True, auth_data=auth_data)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        fault = self.faults.decide("MAIL")
        if fault is not None and fault.kind == "reply" and fault.stage in ("MAIL", None):
            self.faults.record(fault, "MAIL", peer=_peer(session), mail_from=address)
            return fault.reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        if isinstance(envelope, PlannedEnvelope):
            envelope.planned_fault = fault
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        fault = _planned(envelope)
        if fault is not None and fault.kind == "reply" and fault.stage == "RCPT":
            self.faults.record(fault, "RCPT", peer=_peer(session), mail_from=envelope.mail_from)
            return fault.reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = _planned(envelope)
        if fault is not None and fault.kind == "reply" and fault.stage == "DATA":
            self.faults.record(fault, "DATA", peer=_peer(session), mail_from=envelope.mail_from)
            return fault.reply
        message = self.capture(session, envelope)
        self.store.add(message)
        return f"250 2.0.0 Ok: queued as {message.id}"

    def capture(self, session: Session, envelope: Envelope) -> Message:
        auth_data = session.auth_data if session.authenticated else None
        user = auth_data.login.decode("utf-8", "replace") if isinstance(auth_data, LoginPassword) else None
        return parse_message(
            envelope.original_content or b"",
            id=self._next_id(),
            received_at=self._now(),
            mail_from=envelope.mail_from or "",
            rcpt_tos=envelope.rcpt_tos,
            smtp_utf8=envelope.smtp_utf8,
            peer=_peer(session),
            helo_name=session.host_name,
            authenticated_user=user,
        )


def _planned(envelope: Envelope) -> SmtpFaultRule | None:
    return envelope.planned_fault if isinstance(envelope, PlannedEnvelope) else None


class CapturingSMTP(SMTP):
    def __init__(self, handler: CaptureHandler, *, connections: set[CapturingSMTP],
                 loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(
            handler,
            hostname=SERVER_HOSTNAME,
            enable_SMTPUTF8=True,
            # Local clients log in without TLS; the fake accepts any credentials and records them.
            auth_require_tls=False,
            authenticator=handler.authenticate,
            loop=loop,
        )
        self._capture = handler
        self._connections = connections
        self._lost: asyncio.Future[None] = loop.create_future()

    def _create_session(self) -> Session:
        return QuietSession(self.loop)

    def _create_envelope(self) -> Envelope:
        return PlannedEnvelope()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._connections.discard(self)
        super().connection_lost(error)
        if not self._lost.done():
            self._lost.set_result(None)

    async def wait_closed(self) -> None:
        """Returns once the connection is gone and its command loop has ended."""
        await self._lost
        if self._handler_coroutine is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._handler_coroutine

    def close_connection(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def push(self, status: AnyStr) -> None:
        await super().push(status)
        reply = status.encode() if isinstance(status, str) else status
        if reply.startswith(b"421 "):
            self.close_connection()

    async def _handle_client(self) -> None:
        # The greeting is the first thing the command loop sends, so a refused connection is
        # decided here, before aiosmtpd's loop starts.
        fault = self._capture.faults.decide("CONNECT")
        if fault is None or fault.kind != "reply":
            await super()._handle_client()
            return
        self._capture.faults.record(fault, "CONNECT", peer=_peer(self.session), mail_from=None)
        await self.push(fault.reply)
        self.close_connection()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        fault = _planned(self.envelope) if self.envelope is not None else None
        if fault is None or fault.kind != "drop" or arg or not self.envelope or not self.envelope.rcpt_tos:
            await super().smtp_DATA(arg)
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        # Wait for the first byte of content, so the client really is in the middle of DATA.
        await self._reader.read(1)
        self._capture.faults.record(fault, "DATA", peer=_peer(self.session), mail_from=self.envelope.mail_from)
        self.close_connection()
