"""The SMTP fake's web inbox (at the root of its API, as Mailpit's) and its /__admin/ API."""

from collections.abc import AsyncIterator

import aiosmtplib
import httpx
import pytest

from sim.smtp import SmtpFake

from .conftest import EmailFactory


@pytest.fixture
async def http(smtp: SmtpFake) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=smtp.api_app), base_url="http://mail.test") as c:
        yield c


async def send(smtp: SmtpFake, message: object) -> None:
    await aiosmtplib.send(message, hostname=smtp.host, port=smtp.port)  # type: ignore[arg-type]


async def test_the_inbox_lists_messages_newest_first(smtp: SmtpFake, http, make_email: EmailFactory) -> None:
    await send(smtp, make_email("ada@example.com", subject="First"))
    await send(smtp, make_email("grace@example.com", subject="Second"))
    page = await http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.index("Second") < page.text.index("First")
    for message in smtp.messages():
        assert f'href="/view/{message.id}"' in page.text
    assert "<script" not in page.text
    assert "http" not in page.text.split("<main>")[0]


async def test_the_inbox_searches_with_mailpits_query_syntax(smtp: SmtpFake, http, make_email: EmailFactory) -> None:
    await send(smtp, make_email("ada@example.com", subject="For Ada"))
    await send(smtp, make_email("grace@example.com", subject="For Grace"))
    page = (await http.get("/", params={"query": "to:grace@example.com"})).text
    assert "For Grace" in page
    assert "For Ada" not in page


async def test_a_message_opens_with_its_text_and_html_parts(smtp: SmtpFake, http, make_email: EmailFactory) -> None:
    await send(smtp, make_email("ada@example.com", html="<p>Hi <b>Ada</b></p><script>alert(1)</script>"))
    (message,) = smtp.messages()
    page = await http.get(f"/view/{message.id}")
    assert page.status_code == 200
    assert "Temporary password: Xy7-kQ2p!" in page.text
    # the HTML part renders in a frame that runs nothing; as markup it is escaped, never live
    assert '<iframe sandbox=""' in page.text
    assert "&lt;p&gt;Hi &lt;b&gt;Ada&lt;/b&gt;&lt;/p&gt;&lt;script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    assert (await http.get("/view/no-such-message")).status_code == 404


async def test_the_journal_lists_messages_and_injected_faults(smtp: SmtpFake, http, make_email: EmailFactory) -> None:
    shown = (await http.post("/__admin/faults", json={"kind": "fail_next", "count": 1, "code": 451})).json()
    assert [(r["stage"], r["code"], r["remaining"]) for r in shown["rules"]] == [("RCPT", 451, 1)]
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(smtp, make_email("ada@example.com"))
    await send(smtp, make_email("ada@example.com"))
    entries = (await http.get("/__admin/journal")).json()["entries"]
    assert [e["kind"] for e in entries] == ["fault", "message"]
    assert (entries[0]["stage"], entries[0]["code"]) == ("RCPT", 451)
    assert (entries[1]["rcpt_to"], entries[1]["subject"]) == (["ada@example.com"], "Welcome to the bank")


async def test_faults_clear_and_reset_over_http(smtp: SmtpFake, http, make_email: EmailFactory) -> None:
    await http.post("/__admin/faults", json={"kind": "outage", "seconds": 60})
    with pytest.raises(aiosmtplib.SMTPException):
        await send(smtp, make_email("ada@example.com"))
    assert (await http.post("/__admin/faults", json={"kind": "clear"})).json()["rules"] == []
    await send(smtp, make_email("ada@example.com"))
    assert (await http.post("/__admin/reset")).json() == {"fake": "smtp", "reset": True}
    assert smtp.messages() == []
    assert (await http.get("/__admin/journal")).json()["entries"] == []
    assert (await http.post("/__admin/faults", json={"kind": "fail_next", "code": 200})).status_code == 400
