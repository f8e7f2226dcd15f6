"""One mailbox per test keeps concurrent tests apart; waiting ends on arrival or on a clear timeout."""

from __future__ import annotations

import asyncio
import smtplib
import threading
from collections.abc import Callable
from email.message import EmailMessage

import aiosmtplib
import pytest

from sim.smtp import MailWaitTimeout, SmtpFake

EmailFactory = Callable[..., EmailMessage]


async def send(smtp: SmtpFake, email: EmailMessage) -> None:
    await aiosmtplib.send(email, hostname=smtp.host, port=smtp.port)


async def test_mailboxes_see_only_their_own_mail(smtp: SmtpFake, make_email: EmailFactory) -> None:
    first, second = smtp.mailbox("first"), smtp.mailbox("second")
    await send(smtp, make_email(first.address("alice"), subject="for first"))
    await send(smtp, make_email(second.address("alice"), subject="for second"))
    await send(smtp, make_email("bob@second.test", subject="second by domain"))

    assert [m.subject for m in first.messages()] == ["for first"]
    assert [m.subject for m in second.messages()] == ["for second", "second by domain"]
    assert len(smtp.messages()) == 3
    assert first.latest(subject="for second") is None
    with pytest.raises(KeyError):
        first.get(second.messages()[0].id)

    assert first.clear() == 1
    assert len(smtp.messages()) == 2


async def test_mailbox_names_match_whole_tags_only(smtp: SmtpFake, make_email: EmailFactory) -> None:
    await send(smtp, make_email("alice+t10@example.com"))
    await send(smtp, make_email("alice@t10.test.example"))

    assert smtp.mailbox("t1").messages() == []
    assert len(smtp.mailbox("T10").messages()) == 1


async def test_unnamed_mailboxes_get_distinct_names_from_the_seed(smtp: SmtpFake) -> None:
    assert smtp.mailbox().name != smtp.mailbox().name
    with pytest.raises(ValueError, match="mailbox name"):
        smtp.mailbox("no spaces")


async def test_wait_for_returns_mail_that_arrives_while_waiting(smtp: SmtpFake, make_email: EmailFactory) -> None:
    inbox = smtp.mailbox("waiting")
    waiting = asyncio.create_task(inbox.wait_for(subject="Welcome", timeout=5))
    await asyncio.sleep(0)  # let the waiter register before the mail exists
    assert not waiting.done()

    await send(smtp, make_email(inbox.address("alice"), subject="Something else"))
    await send(smtp, make_email(inbox.address("alice"), subject="Welcome aboard"))

    message = await waiting
    assert message.subject == "Welcome aboard"


async def test_wait_for_count_waits_for_enough_matches(smtp: SmtpFake, make_email: EmailFactory) -> None:
    inbox = smtp.mailbox("count")
    waiting = asyncio.create_task(inbox.wait_for_count(2, to=inbox.address("alice"), timeout=5))
    await send(smtp, make_email(inbox.address("alice"), subject="one"))
    await send(smtp, make_email(inbox.address("alice"), subject="two"))

    assert [m.subject for m in await waiting] == ["one", "two"]


async def test_wait_for_times_out_listing_what_did_arrive(smtp: SmtpFake, make_email: EmailFactory) -> None:
    inbox = smtp.mailbox("late")
    await send(smtp, make_email(inbox.address("alice"), subject="Statement ready"))
    await send(smtp, make_email("someone+other@example.com", subject="Not yours"))

    with pytest.raises(MailWaitTimeout) as raised:
        await inbox.wait_for(subject="Welcome", timeout=0.05)

    text = str(raised.value)
    assert "mailbox 'late'" in text
    assert "subject:'Welcome'" in text
    assert "within 0.05 s" in text
    assert "'Statement ready'" in text
    assert "Not yours" not in text
    assert "1 other messages arrived for other mailboxes" in text
    assert isinstance(raised.value, TimeoutError)


async def test_wait_for_times_out_when_nothing_arrives(smtp: SmtpFake) -> None:
    with pytest.raises(MailWaitTimeout, match="Nothing arrived there"):
        await smtp.mailbox("empty").wait_for(to="nobody", timeout=0.05)


def test_wait_for_sync_wakes_when_a_thread_delivers(threaded_smtp: SmtpFake, make_email: EmailFactory) -> None:
    inbox = threaded_smtp.mailbox("sync")
    start_sending = threading.Event()

    def deliver() -> None:
        start_sending.wait(5)
        with smtplib.SMTP(threaded_smtp.host, threaded_smtp.port) as client:
            client.send_message(make_email(inbox.address("alice"), subject="From a thread"))

    sender = threading.Thread(target=deliver)
    sender.start()
    start_sending.set()
    message = inbox.wait_for_sync(subject="From a thread", timeout=5)
    sender.join()

    assert message.rcpt_tos == (inbox.address("alice"),)


def test_wait_for_sync_times_out_with_the_same_report(threaded_smtp: SmtpFake) -> None:
    with pytest.raises(MailWaitTimeout, match=r"did not arrive within 0\.05 s"):
        threaded_smtp.wait_for_sync(subject="never", timeout=0.05)


async def test_wait_for_sync_refuses_to_block_a_running_loop(smtp: SmtpFake) -> None:
    with pytest.raises(RuntimeError, match="await wait_for"):
        smtp.wait_for_sync(subject="anything", timeout=0.05)


async def test_search_by_keywords_and_by_query(smtp: SmtpFake, make_email: EmailFactory) -> None:
    await send(smtp, make_email("gus+search@example.com", subject="Welcome Gus", text="code 1111\n"))
    await send(smtp, make_email("hal+search@example.com", subject="Statement", text="balance\n",
                                sender="Statements <statements@bank.example>"))

    assert [m.subject for m in smtp.search(to="gus+search")] == ["Welcome Gus"]
    assert [m.subject for m in smtp.search(sender="statements@")] == ["Statement"]
    assert [m.subject for m in smtp.search(contains="CODE 1111")] == ["Welcome Gus"]
    assert [m.subject for m in smtp.search('from:no-reply subject:"welcome gus"')] == ["Welcome Gus"]
    assert [m.subject for m in smtp.search("-subject:welcome balance")] == ["Statement"]
    latest = smtp.latest(where=lambda m: "hal" in m.rcpt_tos[0])
    assert latest is not None
    assert latest.subject == "Statement"
