"""Real clients deliver to the fake, and what they sent is what the fake captured."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib
import pytest

from sim.clock import VirtualClock
from sim.smtp import Address, SmtpFake

EmailFactory = Callable[..., EmailMessage]


def test_smtplib_delivery_is_captured_with_envelope_and_parts(
    threaded_smtp: SmtpFake, make_email: EmailFactory,
) -> None:
    email = make_email("Alice <alice+capture@example.com>", cc="audit@bank.example")

    with smtplib.SMTP(threaded_smtp.host, threaded_smtp.port, local_hostname="worker.local") as client:
        refused = client.send_message(email, to_addrs=["alice+capture@example.com", "hidden@bank.example"])

    assert refused == {}
    [message] = threaded_smtp.messages()
    assert message.mail_from == "no-reply@bank.example"
    assert message.rcpt_tos == ("alice+capture@example.com", "hidden@bank.example")
    assert message.helo_name == "worker.local"
    assert message.peer is not None
    assert message.peer[0] == "127.0.0.1"
    assert message.authenticated_user is None
    assert message.received_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert message.subject == "Welcome to the bank"
    assert message.sender == Address("Onboarding", "no-reply@bank.example")
    assert message.to == (Address("Alice", "alice+capture@example.com"),)
    assert message.cc == (Address("", "audit@bank.example"),)
    assert message.message_id == "<welcome-1@bank.example>"
    assert message.date == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert message.text.replace("\r\n", "\n") == "Your username: alice\nTemporary password: Xy7-kQ2p!\n"
    assert "<code>Xy7-kQ2p!</code>" in message.html
    assert (message.header("content-type") or "").startswith("multipart/alternative")
    assert message.raw.startswith(b"From: Onboarding <no-reply@bank.example>")


async def test_aiosmtplib_delivery_keeps_utf8_subject_body_and_addresses(
    smtp: SmtpFake, make_email: EmailFactory,
) -> None:
    email = make_email(
        "Zoë Ünal <zoë+utf8@exämple.com>",
        subject="Bienvenue, Zoë — votre compte ✓",
        text="Mot de passe temporaire : à changer\nTemporary password: Ünï-42\n",
        html="<p>Grüße, Zoë</p>",
    )

    async with aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port) as client:
        await client.send_message(email)

    message = await smtp.wait_for(to="zoë+utf8@exämple.com", timeout=2)
    assert message.smtp_utf8 is True
    assert message.rcpt_tos == ("zoë+utf8@exämple.com",)
    assert message.subject == "Bienvenue, Zoë — votre compte ✓"
    assert message.to == (Address("Zoë Ünal", "zoë+utf8@exämple.com"),)
    assert "à changer" in message.text
    assert message.html.strip() == "<p>Grüße, Zoë</p>"
    assert message.extract_password() == "Ünï-42"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_without_tls_is_accepted_and_recorded(
    threaded_smtp: SmtpFake, make_email: EmailFactory, mechanism: str,
) -> None:
    with smtplib.SMTP(threaded_smtp.host, threaded_smtp.port) as client:
        client.ehlo()
        client.user, client.password = "service-account", "s3cret"
        code, _ = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        client.send_message(make_email("bob+auth@example.com"))

    assert code == 235
    [login] = threaded_smtp.logins
    assert (login.mechanism, login.username, login.password) == (mechanism, "service-account", "s3cret")
    assert threaded_smtp.messages()[0].authenticated_user == "service-account"


async def test_aiosmtplib_login_is_accepted(smtp: SmtpFake, make_email: EmailFactory) -> None:
    async with aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port) as client:
        await client.login("svc", "pw")
        await client.send_message(make_email("carol+login@example.com"))

    message = await smtp.wait_for(to="carol+login@example.com", timeout=2)
    assert message.authenticated_user == "svc"


async def test_received_time_follows_the_virtual_clock(
    smtp: SmtpFake, clock: VirtualClock, make_email: EmailFactory,
) -> None:
    await clock.advance(3600)
    await aiosmtplib.send(make_email("dan+clock@example.com"), hostname=smtp.host, port=smtp.port)

    message = await smtp.wait_for(to="dan+clock@example.com", timeout=2)
    assert message.received_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


async def test_links_and_labelled_values_are_extracted(smtp: SmtpFake, make_email: EmailFactory) -> None:
    email = make_email(
        "erin+links@example.com",
        text="Username: erin\nTemporary password: p@ss w0rd\nSign in at https://portal.bank.example/login.\n",
        html='<a href="https://portal.bank.example/login">Sign in</a> '
             '<a href="https://bank.example/verify?token=abc&amp;x=1">Verify</a>',
    )
    await aiosmtplib.send(email, hostname=smtp.host, port=smtp.port)

    message = await smtp.wait_for(to="erin+links@example.com", timeout=2)
    assert message.links() == ["https://portal.bank.example/login", "https://bank.example/verify?token=abc&x=1"]
    assert message.extract_link(r"/verify") == "https://bank.example/verify?token=abc&x=1"
    assert message.extract_link() == "https://portal.bank.example/login"
    # The password runs to the next whitespace, which is the documented convention.
    assert message.extract_password() == "p@ss"
    assert message.field("Username") == "erin"
    with pytest.raises(LookupError, match="no link matching '/reset'"):
        message.extract_link("/reset")
    with pytest.raises(LookupError, match="'One-time code'"):
        message.field("One-time code")


async def test_password_is_found_in_html_only_mail(smtp: SmtpFake) -> None:
    raw = (
        b"From: no-reply@bank.example\r\nTo: fay+html@example.com\r\nSubject: Welcome\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><body><table><tr><td>Temporary password:</td><td><b>Qz9!rT</b></td></tr></table>"
        b"</body></html>\r\n"
    )
    async with aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port) as client:
        await client.sendmail("no-reply@bank.example", ["fay+html@example.com"], raw)

    message = await smtp.wait_for(to="fay+html@example.com", timeout=2)
    assert message.text == ""
    assert message.extract_password() == "Qz9!rT"


async def test_a_captured_message_is_parsed_when_first_read_and_only_once(
    smtp: SmtpFake, make_email: EmailFactory,
) -> None:
    async with aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port, local_hostname="worker.local") as client:
        await client.send_message(make_email("lazy@example.com"))
    [message] = smtp.messages()
    assert "_parsed" not in vars(message)  # capturing it cost no parse
    assert message.subject == "Welcome to the bank"
    parsed = vars(message)["_parsed"]
    assert message.extract_password() == "Xy7-kQ2p!"
    assert vars(message)["_parsed"] is parsed
