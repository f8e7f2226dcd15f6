"""The SMTP fake's web inbox, at the root of its HTTP API, as Mailpit's UI is: the captured messages
newest first (``/``, searchable with Mailpit's query syntax), and each one (``/view/{id}``) with its
headers, its HTML part (shown in a sandboxed frame: no script runs, nothing is fetched), its text
part and its source. Server-rendered, self-contained: no script, no stylesheet from elsewhere.
"""

from __future__ import annotations

import html
from typing import Annotated

from litestar import Controller, MediaType, Response, get
from litestar.params import FromPath, QueryParameter

from sim.smtp.api import Store
from sim.smtp.message import Address, Message
from sim.smtp.store import MessageQuery

__all__ = ["InboxController"]

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#2c3e50;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:1em}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e3e3e3;vertical-align:top}
tr:hover td{background:#f5f8fb}
.snippet{color:#777}
.empty{color:#777;padding:2em 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}
dt{font-weight:600}
nav a{margin-right:1em}
iframe{width:100%;height:28em;border:1px solid #ccc}
pre{white-space:pre-wrap;background:#f7f7f7;padding:1em;border:1px solid #e3e3e3}
input[type=search]{width:24em;padding:.3em}
"""

SearchQuery = Annotated[str, QueryParameter(name="query")]  # ``query`` itself is a name Litestar reserves


def _page(title: str, body: str, status: int = 200) -> Response[str]:
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><header><a href=\"/\">SMTP fake: inbox</a>"
            '<form method="get" action="/"><input type="search" name="query" placeholder="to:ada@example.com '
            f'subject:Welcome"></form></header><main>{body}</main></body></html>')
    return Response(page, status_code=status, media_type=MediaType.HTML)


def _addresses(addresses: tuple[Address, ...]) -> str:
    return html.escape(", ".join(str(address) for address in addresses))


def _when(message: Message) -> str:
    return message.received_at.strftime("%Y-%m-%d %H:%M:%S")


def _row(message: Message) -> str:
    sender = html.escape(str(message.sender) if message.sender else message.mail_from)
    link = f"/view/{html.escape(message.id)}"
    return (f"<tr><td>{sender}</td><td>{_addresses(message.to) or html.escape(', '.join(message.rcpt_tos))}</td>"
            f'<td><a href="{link}">{html.escape(message.subject or "(no subject)")}</a>'
            f'<div class="snippet">{html.escape(message.snippet)}</div></td><td>{_when(message)}</td></tr>')


class InboxController(Controller):
    path = "/"
    include_in_schema = False

    @get("/", media_type=MediaType.HTML)
    async def inbox(self, store: Store, search_query: SearchQuery = "") -> Response[str]:
        try:
            selected = store.select(MessageQuery.parse(search_query) if search_query else None)
        except ValueError as exc:
            return _page("Inbox", f"<p>Cannot read the search: {html.escape(str(exc))}</p>", 400)
        newest_first = list(reversed(selected))
        if not newest_first:
            return _page("Inbox", '<p class="empty">No messages.</p>')
        rows = "".join(_row(message) for message in newest_first)
        heading = f"<p>{len(newest_first)} message{'s' if len(newest_first) != 1 else ''}</p>"
        table = ("<table><thead><tr><th>From</th><th>To</th><th>Subject</th><th>Received</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>")
        return _page("Inbox", heading + table)

    @get("/view/{message_id:str}", media_type=MediaType.HTML)
    async def view(self, store: Store, message_id: FromPath[str]) -> Response[str]:
        message = store.get(message_id)
        if message is None:
            return _page("Not found", f"<p>No message {html.escape(message_id)}.</p>", 404)
        facts = [("From", html.escape(str(message.sender) if message.sender else message.mail_from)),
                 ("To", _addresses(message.to)), ("Cc", _addresses(message.cc)),
                 ("Subject", html.escape(message.subject)), ("Received", _when(message)),
                 ("Envelope", html.escape(f"{message.mail_from} → {', '.join(message.rcpt_tos)}"))]
        sections = ['<nav><a href="#html">HTML</a><a href="#text">Text</a><a href="#source">Source</a>'
                    '<a href="/">Back to the inbox</a></nav>',
                    "<dl>" + "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts if value) + "</dl>"]
        if message.html:
            # srcdoc with an empty sandbox: the mail's HTML renders, but runs nothing and reaches nothing
            sections.append(f'<h2 id="html">HTML</h2><iframe sandbox="" title="HTML part" '
                            f'srcdoc="{html.escape(message.html, quote=True)}"></iframe>')
        else:
            sections.append('<h2 id="html">HTML</h2><p class="empty">No HTML part.</p>')
        sections.append(f'<h2 id="text">Text</h2><pre>{html.escape(message.text) or "(no text part)"}</pre>')
        source = message.raw.decode("utf-8", "replace")
        sections.append(f'<h2 id="source">Source</h2><pre>{html.escape(source)}</pre>')
        return _page(message.subject or "Message", "".join(sections))
