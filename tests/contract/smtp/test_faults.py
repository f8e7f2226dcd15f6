"""Injected SMTP faults reach real clients as the errors a real server would cause."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage

import aiosmtplib
import pytest

from sim.clock import VirtualClock
from sim.seed import Seed
from sim.smtp import SmtpFake

EmailFactory = Callable[..., EmailMessage]


def smtplib_send(smtp: SmtpFake, email: EmailMessage) -> None:
    with smtplib.SMTP(smtp.host, smtp.port) as client:
        client.send_message(email)


# a temporary failure at each stage, then success


def test_smtplib_sees_451_at_rcpt_and_the_next_send_succeeds(
    threaded_smtp: SmtpFake, make_email: EmailFactory,
) -> None:
    threaded_smtp.faults.fail_next(1, code=451, message="4.3.0 Try again later", stage="RCPT")

    with pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
        smtplib_send(threaded_smtp, make_email("ann+f@example.com"))
    assert raised.value.recipients == {"ann+f@example.com": (451, b"4.3.0 Try again later")}
    assert threaded_smtp.messages() == []

    smtplib_send(threaded_smtp, make_email("ann+f@example.com"))
    assert len(threaded_smtp.messages()) == 1


@pytest.mark.parametrize(("stage", "error"), [
    ("MAIL", smtplib.SMTPSenderRefused),
    ("DATA", smtplib.SMTPDataError),
])
def test_smtplib_sees_451_at_mail_and_data(
    threaded_smtp: SmtpFake, make_email: EmailFactory, stage: str, error: type[smtplib.SMTPResponseException],
) -> None:
    threaded_smtp.faults.fail_next(1, code=451, stage=stage)  # type: ignore[arg-type]

    with pytest.raises(error) as raised:
        smtplib_send(threaded_smtp, make_email("ann+f@example.com"))
    assert raised.value.smtp_code == 451
    assert threaded_smtp.messages() == []

    smtplib_send(threaded_smtp, make_email("ann+f@example.com"))
    assert len(threaded_smtp.messages()) == 1
    [injected] = threaded_smtp.faults.journal
    assert (injected.stage, injected.code, injected.reply) == (stage, 451, "451 4.3.0 Try again later")


@pytest.mark.parametrize(("stage", "error"), [
    ("MAIL", aiosmtplib.SMTPSenderRefused),
    ("DATA", aiosmtplib.SMTPDataError),
])
async def test_aiosmtplib_sees_451_at_mail_and_data(
    smtp: SmtpFake, make_email: EmailFactory, stage: str, error: type[aiosmtplib.SMTPResponseException],
) -> None:
    smtp.faults.fail_next(1, code=451, stage=stage)  # type: ignore[arg-type]

    with pytest.raises(error) as raised:
        await aiosmtplib.send(make_email("bea+f@example.com"), hostname=smtp.host, port=smtp.port)
    assert raised.value.code == 451

    await aiosmtplib.send(make_email("bea+f@example.com"), hostname=smtp.host, port=smtp.port)
    assert len(smtp.messages()) == 1


async def test_aiosmtplib_sees_every_recipient_refused_at_rcpt(smtp: SmtpFake, make_email: EmailFactory) -> None:
    smtp.faults.fail_next(1, code=451)

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as raised:
        await aiosmtplib.send(make_email("cy+f@example.com"), hostname=smtp.host, port=smtp.port,
                              recipients=["cy+f@example.com", "dee+f@example.com"])
    assert [(r.recipient, r.code) for r in raised.value.recipients] == [
        ("cy+f@example.com", 451), ("dee+f@example.com", 451),
    ]
    assert len(smtp.faults.journal) == 2

    await aiosmtplib.send(make_email("cy+f@example.com"), hostname=smtp.host, port=smtp.port)
    assert len(smtp.messages()) == 1


# 421 closes the connection


def test_421_is_followed_by_the_server_closing_the_connection(threaded_smtp: SmtpFake) -> None:
    threaded_smtp.faults.fail_next(1, code=421, stage="MAIL")

    client = smtplib.SMTP(threaded_smtp.host, threaded_smtp.port, timeout=5)
    try:
        client.ehlo()
        code, reply = client.mail("no-reply@bank.example")
        assert (code, reply) == (421, b"4.3.2 Service not available, closing transmission channel")
        assert client.sock is not None
        assert client.sock.recv(1) == b""  # end of stream: the server hung up
    finally:
        client.close()


async def test_aiosmtplib_sees_421_and_is_disconnected(smtp: SmtpFake, make_email: EmailFactory) -> None:
    smtp.faults.fail_next(1, code=421, stage="RCPT")
    client = aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port)
    await client.connect()

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as raised:
        await client.send_message(make_email("eve+f@example.com"))
    assert raised.value.recipients[0].code == 421
    assert not client.is_connected


# outages on the clock


async def test_outage_refuses_connections_until_the_clock_passes_it(
    smtp: SmtpFake, clock: VirtualClock, make_email: EmailFactory,
) -> None:
    smtp.faults.outage(seconds=30)

    with pytest.raises(aiosmtplib.SMTPConnectResponseError) as raised:
        await aiosmtplib.send(make_email("fox+f@example.com"), hostname=smtp.host, port=smtp.port)
    assert raised.value.code == 421

    await clock.advance(30)
    await aiosmtplib.send(make_email("fox+f@example.com"), hostname=smtp.host, port=smtp.port)
    assert len(smtp.messages()) == 1
    assert [(i.stage, i.code) for i in smtp.faults.journal] == [("CONNECT", 421)]


async def test_outage_refuses_a_connection_opened_before_it(
    smtp: SmtpFake, clock: VirtualClock, make_email: EmailFactory,
) -> None:
    smtp.faults.outage(seconds=30, start_in=10)
    client = aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port)
    await client.connect()
    await clock.advance(10)

    with pytest.raises(aiosmtplib.SMTPSenderRefused) as raised:
        await client.send_message(make_email("gil+f@example.com"))
    assert raised.value.code == 421
    assert smtp.messages() == []


def test_smtplib_sees_an_outage_as_a_connect_error(threaded_smtp: SmtpFake) -> None:
    threaded_smtp.faults.outage()

    with pytest.raises(smtplib.SMTPConnectError) as raised:
        smtplib.SMTP(threaded_smtp.host, threaded_smtp.port, timeout=5)
    assert raised.value.smtp_code == 421


# the connection dropped in the middle of DATA


def test_smtplib_sees_a_disconnect_mid_data_and_nothing_is_stored(
    threaded_smtp: SmtpFake, make_email: EmailFactory,
) -> None:
    threaded_smtp.faults.drop_during_data(count=1)

    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtplib_send(threaded_smtp, make_email("hal+f@example.com"))
    assert threaded_smtp.messages() == []
    assert [(i.kind, i.stage) for i in threaded_smtp.faults.journal] == [("drop", "DATA")]

    smtplib_send(threaded_smtp, make_email("hal+f@example.com"))
    assert len(threaded_smtp.messages()) == 1


async def test_aiosmtplib_sees_a_disconnect_mid_data_and_nothing_is_stored(
    smtp: SmtpFake, make_email: EmailFactory,
) -> None:
    smtp.faults.drop_during_data()

    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await aiosmtplib.send(make_email("ivy+f@example.com"), hostname=smtp.host, port=smtp.port)
    assert smtp.messages() == []


# login failures


def test_auth_fault_refuses_the_login(threaded_smtp: SmtpFake) -> None:
    # smtplib's login tries PLAIN, then LOGIN: both attempts must fail for the login to fail.
    threaded_smtp.faults.fail_next(2, code=454, stage="AUTH")

    with smtplib.SMTP(threaded_smtp.host, threaded_smtp.port) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
            client.login("svc", "pw")
        assert raised.value.smtp_code == 454
        client.login("svc", "pw")
    assert [login.username for login in threaded_smtp.logins] == ["svc"]


# seeded randomness replays


async def outcomes_with_error_rate(seed_value: int, make_email: EmailFactory, deliveries: int = 16) -> list[str]:
    async with SmtpFake(VirtualClock(), Seed(seed_value)) as smtp:
        smtp.faults.error_rate(0.5, code=451, stage="MAIL")
        outcomes = []
        async with aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port, local_hostname="test.local") as client:
            for n in range(deliveries):
                try:
                    await client.send_message(make_email(f"user{n}+rate@example.com"))
                    outcomes.append("ok")
                except aiosmtplib.SMTPSenderRefused as error:
                    outcomes.append(str(error.code))
        assert outcomes.count("451") == len(smtp.faults.journal)
        return outcomes


async def test_error_rate_replays_the_same_decisions_from_the_same_seed(make_email: EmailFactory) -> None:
    first = await outcomes_with_error_rate(7, make_email)
    again = await outcomes_with_error_rate(7, make_email)
    other = await outcomes_with_error_rate(8, make_email)

    assert first == again
    assert {"ok", "451"} == set(first)
    assert other != first


def test_fault_programming_is_checked() -> None:
    smtp = SmtpFake(VirtualClock(), Seed(0))
    with pytest.raises(ValueError, match="between 400 and 599"):
        smtp.faults.fail_next(1, code=250)
    with pytest.raises(ValueError, match="probability"):
        smtp.faults.error_rate(1.5)
    with pytest.raises(ValueError, match="stage is one of"):
        smtp.faults.fail_next(1, stage="HELO")  # type: ignore[arg-type]
