"""The SMTP fake served two ways: in the test's event loop for aiosmtplib, and in a thread of its
own for blocking smtplib. Each test gets a fresh fake, clock and seed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from email.message import EmailMessage

import pytest

from sim.clock import VirtualClock
from sim.seed import Seed
from sim.smtp import SmtpFake

SENDER = "Onboarding <no-reply@bank.example>"

EmailFactory = Callable[..., EmailMessage]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def seed() -> Seed:
    return Seed(20260105)


@pytest.fixture
async def smtp(clock: VirtualClock, seed: Seed) -> AsyncIterator[SmtpFake]:
    async with SmtpFake(clock, seed) as fake:
        yield fake


@pytest.fixture
def threaded_smtp(clock: VirtualClock, seed: Seed) -> Iterator[SmtpFake]:
    with SmtpFake(clock, seed) as fake:
        yield fake


@pytest.fixture
def make_email() -> EmailFactory:
    """A welcome email as the service writes one: text and HTML alternatives."""

    def build(
        to: str,
        *,
        subject: str = "Welcome to the bank",
        text: str = "Your username: alice\nTemporary password: Xy7-kQ2p!\n",
        html: str | None = "<p>Your username: <b>alice</b></p><p>Temporary password: <code>Xy7-kQ2p!</code></p>",
        sender: str = SENDER,
        cc: str | None = None,
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        if cc:
            message["Cc"] = cc
        message["Subject"] = subject
        message["Date"] = "Mon, 05 Jan 2026 09:00:00 +0000"
        message["Message-ID"] = "<welcome-1@bank.example>"
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    return build
