"""The service's own sender (``service.provisioning.welcome_email.send_email``) against the SMTP fake."""

from __future__ import annotations

import socket

import pytest

from service.provisioning import welcome_email
from service.provisioning.welcome_email import compose_welcome_email, send_email
from service.settings import load_settings
from sim.smtp import SmtpFake


async def test_the_name_given_in_ehlo_is_looked_up_once_per_process(smtp: SmtpFake,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[str] = []

    def getfqdn(name: str = "") -> str:
        lookups.append(name)
        return "worker-7.bank.example"

    monkeypatch.setattr(socket, "getfqdn", getfqdn)
    monkeypatch.setattr(welcome_email, "_fqdn", [])
    settings = load_settings({}, smtp_host=smtp.host, smtp_port=smtp.port)
    for n in range(3):
        to = f"ehlo{n}@example.com"
        await send_email(settings, compose_welcome_email(sender="no-reply@bank.example", to=to, username=to,
                                                         password="Xy7-kQ2p!", portal_url="https://bank.example/"))
    assert [m.helo_name for m in smtp.messages()] == ["worker-7.bank.example"] * 3
    assert len(lookups) == 1
