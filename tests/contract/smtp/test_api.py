"""The captured-mail API answers in Mailpit's shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage

import aiosmtplib
import httpx
import pytest

from sim.clock import VirtualClock
from sim.servers import served
from sim.smtp import SmtpFake

EmailFactory = Callable[..., EmailMessage]


@pytest.fixture
async def api(smtp: SmtpFake) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=smtp.api_app)  # type: ignore[arg-type] # httpx types ASGI loosely
    async with httpx.AsyncClient(transport=transport, base_url="http://smtp-api") as client:
        yield client


async def deliver(smtp: SmtpFake, *emails: EmailMessage) -> None:
    async with aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port, local_hostname="test.local") as client:
        for email in emails:
            await client.send_message(email)


async def test_list_messages_newest_first_in_mailpit_shape(
    smtp: SmtpFake, api: httpx.AsyncClient, clock: VirtualClock, make_email: EmailFactory,
) -> None:
    await deliver(smtp, make_email("Ann <ann+api@example.com>", subject="first"))
    await clock.advance(1.5)
    await deliver(smtp, make_email("bob+api@example.com", subject="second", cc="Audit <audit@bank.example>"))

    response = await api.get("/api/v1/messages")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("total", "count", "messages_count", "start")} == {
        "total": 2, "count": 2, "messages_count": 2, "start": 0,
    }
    newest, oldest = body["messages"]
    assert newest["Subject"] == "second"
    assert newest["Created"] == "2026-01-05T09:00:01.500Z"
    assert newest["Cc"] == [{"Name": "Audit", "Address": "audit@bank.example"}]
    assert oldest == {
        "ID": smtp.messages()[0].id,
        "MessageID": "welcome-1@bank.example",
        "Read": False,
        "From": {"Name": "Onboarding", "Address": "no-reply@bank.example"},
        "To": [{"Name": "Ann", "Address": "ann+api@example.com"}],
        "Cc": [],
        "Bcc": [],
        "ReplyTo": [],
        "Subject": "first",
        "Created": "2026-01-05T09:00:00.000Z",
        "Username": "",
        "Tags": [],
        "Size": smtp.messages()[0].size,
        "Attachments": 0,
        "Snippet": "Your username: alice Temporary password: Xy7-kQ2p!",
    }


async def test_list_pages_with_start_and_limit(
    smtp: SmtpFake, api: httpx.AsyncClient, make_email: EmailFactory,
) -> None:
    await deliver(smtp, *(make_email("page+api@example.com", subject=f"n{n}") for n in range(5)))

    body = (await api.get("/api/v1/messages", params={"start": 1, "limit": 2})).json()

    assert (body["total"], body["count"], body["start"]) == (5, 2, 1)
    assert [m["Subject"] for m in body["messages"]] == ["n3", "n2"]


async def test_get_message_headers_and_raw(smtp: SmtpFake, api: httpx.AsyncClient, make_email: EmailFactory) -> None:
    await deliver(smtp, make_email("cat+api@example.com"))
    [message] = smtp.messages()

    detail = (await api.get(f"/api/v1/message/{message.id}")).json()
    assert detail["ID"] == message.id
    assert detail["Subject"] == "Welcome to the bank"
    assert detail["Text"].replace("\r\n", "\n") == "Your username: alice\nTemporary password: Xy7-kQ2p!\n"
    assert "<code>Xy7-kQ2p!</code>" in detail["HTML"]
    assert detail["ReturnPath"] == "no-reply@bank.example"
    assert detail["Date"] == "2026-01-05T09:00:00.000Z"
    assert detail["SMTP"]["RcptTo"] == ["cat+api@example.com"]
    assert detail["SMTP"]["Helo"] == "test.local"

    latest = (await api.get("/api/v1/message/latest")).json()
    assert latest["ID"] == message.id

    headers = (await api.get(f"/api/v1/message/{message.id}/headers")).json()
    assert headers["Subject"] == ["Welcome to the bank"]

    raw = await api.get(f"/api/v1/message/{message.id}/raw")
    assert raw.headers["content-type"].startswith("text/plain")
    assert raw.content == message.raw

    missing = await api.get("/api/v1/message/nope")
    assert missing.status_code == 404


async def test_search_supports_to_from_subject_and_free_text(
    smtp: SmtpFake, api: httpx.AsyncClient, make_email: EmailFactory,
) -> None:
    await deliver(
        smtp,
        make_email("dee+api@example.com", subject="Welcome Dee"),
        make_email("eli+api@example.com", subject="Your statement", text="Balance: 10 USD\n",
                   sender="Statements <statements@bank.example>"),
    )

    async def subjects(query: str) -> list[str]:
        response = await api.get("/api/v1/search", params={"query": query})
        assert response.status_code == 200
        return [m["Subject"] for m in response.json()["messages"]]

    assert await subjects("to:dee+api") == ["Welcome Dee"]
    assert await subjects("from:statements@bank.example") == ["Your statement"]
    assert await subjects('subject:"your statement"') == ["Your statement"]
    assert await subjects("balance") == ["Your statement"]
    assert await subjects("-subject:welcome") == ["Your statement"]
    assert await subjects("to:nobody") == []

    body = (await api.get("/api/v1/search", params={"query": "to:dee"})).json()
    assert (body["total"], body["messages_count"]) == (2, 1)


async def test_delete_some_by_id_then_all(smtp: SmtpFake, api: httpx.AsyncClient, make_email: EmailFactory) -> None:
    await deliver(smtp, *(make_email("fay+api@example.com", subject=f"n{n}") for n in range(3)))
    first, second, third = (m.id for m in smtp.messages())

    response = await api.request("DELETE", "/api/v1/messages", json={"IDs": [first, third]})
    assert (response.status_code, response.text) == (200, "ok")
    assert [m.id for m in smtp.messages()] == [second]

    malformed = await api.request("DELETE", "/api/v1/messages", content=b'{"IDs": [')
    assert malformed.status_code == 400
    assert len(smtp.messages()) == 1

    response = await api.delete("/api/v1/messages")
    assert response.status_code == 200
    assert smtp.messages() == []


async def test_delete_search_removes_only_matches(
    smtp: SmtpFake, api: httpx.AsyncClient, make_email: EmailFactory,
) -> None:
    await deliver(smtp, make_email("gus+api@example.com", subject="keep"), make_email("gus+api@example.com",
                                                                                      subject="drop me"))

    response = await api.delete("/api/v1/search", params={"query": "subject:drop"})

    assert response.status_code == 200
    assert [m.subject for m in smtp.messages()] == ["keep"]


async def test_chaos_triggers_follow_mailpit(smtp: SmtpFake, api: httpx.AsyncClient, make_email: EmailFactory) -> None:
    default = (await api.get("/api/v1/chaos")).json()
    assert default == {
        "Sender": {"ErrorCode": 451, "Probability": 0},
        "Recipient": {"ErrorCode": 451, "Probability": 0},
        "Authentication": {"ErrorCode": 535, "Probability": 0},
    }

    response = await api.put("/api/v1/chaos", json={"Sender": {"ErrorCode": 452, "Probability": 100}})
    assert response.status_code == 200
    assert response.json()["Sender"] == {"ErrorCode": 452, "Probability": 100}

    with pytest.raises(aiosmtplib.SMTPSenderRefused) as raised:
        await deliver(smtp, make_email("hal+api@example.com"))
    assert raised.value.code == 452

    # Omitted triggers are switched off, as in Mailpit.
    assert (await api.put("/api/v1/chaos", json={})).json() == default
    await deliver(smtp, make_email("hal+api@example.com"))
    assert len(smtp.messages()) == 1

    bad = await api.put("/api/v1/chaos", json={"Recipient": {"ErrorCode": 200, "Probability": 5}})
    assert bad.status_code == 400


async def test_faults_can_be_programmed_and_read_back(
    smtp: SmtpFake, api: httpx.AsyncClient, make_email: EmailFactory,
) -> None:
    response = await api.post("/api/v1/faults", json={"Kind": "fail_next", "Code": 451, "Stage": "DATA"})
    assert response.status_code == 201
    assert response.json()["Reply"] == "451 4.3.0 Try again later"

    with pytest.raises(aiosmtplib.SMTPDataError):
        await deliver(smtp, make_email("ida+api@example.com"))

    faults = (await api.get("/api/v1/faults")).json()
    assert faults["Rules"][0]["Remaining"] == 0
    [injected] = faults["Journal"]
    assert (injected["Stage"], injected["Code"], injected["MailFrom"]) == ("DATA", 451, "no-reply@bank.example")

    rejected = await api.post("/api/v1/faults", json={"Kind": "fail_next", "Code": 250})
    assert rejected.status_code == 400


async def test_reset_forgets_mail_and_faults(smtp: SmtpFake, api: httpx.AsyncClient, make_email: EmailFactory) -> None:
    await deliver(smtp, make_email("jo+api@example.com"))
    smtp.faults.outage()

    response = await api.post("/api/v1/reset")

    assert response.status_code == 200
    assert smtp.messages() == []
    assert smtp.faults.rules == []
    await deliver(smtp, make_email("jo+api@example.com"))
    assert len(smtp.messages()) == 1


async def test_api_serves_on_a_real_socket(smtp: SmtpFake, make_email: EmailFactory) -> None:
    await deliver(smtp, make_email("kim+api@example.com"))

    async with served(smtp.api_app) as server, httpx.AsyncClient(base_url=server.url) as client:
        body = (await client.get("/api/v1/messages")).json()

    assert [m["To"][0]["Address"] for m in body["messages"]] == ["kim+api@example.com"]
