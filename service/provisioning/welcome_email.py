"""The welcome email: username, a temporary password to change at first login, the portal address.

The password exists only in memory and in the sent message: it is never stored, queued or logged.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import string
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from html import escape

import aiosmtplib

from service.settings import Settings

__all__ = ["compose_welcome_email", "new_temporary_password", "send_email"]

_ALPHABET = string.ascii_letters + string.digits


def new_temporary_password(length: int = 16) -> str:
    """Letters and digits only, with at least one of each kind, so it survives any mail client."""
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (
            any(c.islower() for c in password)
            and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
        ):
            return password


_SUBJECT = "Welcome: your account is ready"


def compose_welcome_email(*, sender: str, to: str, username: str, password: str, portal_url: str) -> Message:
    message_id = make_msgid(domain=sender.rpartition("@")[2] or None)
    text = ("Your identity has been verified and your account is ready.\n\n"
            f"Portal: {portal_url}\n"
            f"Username: {username}\n"
            f"Temporary password: {password}\n\n"
            "You will be asked to choose a new password when you first log in.\n")
    html = ("<html><body><p>Your identity has been verified and your account is ready.</p>"
            f'<p>Portal: <a href="{escape(portal_url)}">{escape(portal_url)}</a><br>'
            f"Username: <b>{escape(username)}</b><br>Temporary password: <code>{escape(password)}</code></p>"
            "<p>You will be asked to choose a new password when you first log in.</p></body></html>")
    if all(part.isascii() for part in (sender, to, text)) and len(html) < 900:
        # plain ASCII in short lines, the usual case: the classic MIME classes build and flatten it ten times
        # faster than EmailMessage's header-parsing policy (the same message: multipart/alternative, 7bit parts)
        # a boundary of its own: left to the generator, it is checked against the text with a regular
        # expression compiled for every message (a random boundary is never in the cache)
        boundary = f"===============welcome{secrets.token_hex(16)}=="
        plain = MIMEMultipart("alternative", boundary=boundary if boundary not in text + html else None)
        for name, value in (("Subject", _SUBJECT), ("From", sender), ("To", to), ("Message-ID", message_id)):
            plain[name] = value
        plain.attach(MIMEText(text, "plain", "us-ascii"))
        plain.attach(MIMEText(html, "html", "us-ascii"))
        return plain
    message = EmailMessage()
    message["Subject"] = _SUBJECT
    message["From"] = sender
    message["To"] = to
    message["Message-ID"] = message_id
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


_fqdn: list[str] = []


async def _local_hostname() -> str:
    """The name this host gives in EHLO, looked up once per process: left to aiosmtplib, it is
    looked up (``socket.getfqdn``, a resolver call, on a thread) for every email."""
    if not _fqdn:
        _fqdn.append(await asyncio.to_thread(socket.getfqdn))
    return _fqdn[0]


async def send_email(settings: Settings, message: Message) -> None:
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        local_hostname=await _local_hostname(),
        timeout=settings.smtp_timeout_seconds,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=False,
        use_tls=False,
    )
