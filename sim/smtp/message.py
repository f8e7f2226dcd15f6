"""A captured email: what the SMTP envelope said, and what the message itself says.

The message is parsed from its raw bytes once, when a field of it is first read (a run that
captures thousands of mails and reads a few pays only for those), so every reader (tests, the
JSON API, notebooks) sees the same fields. Headers sent raw in UTF-8 (RFC 6532, with SMTPUTF8)
and headers in RFC 2047 encoded words both come out as ordinary text.

Extraction conventions, for the mails the service sends:

- ``links()`` finds every ``http(s)://`` URL in the text part and every ``href`` in the HTML part,
  in order of appearance, without duplicates.
- ``extract_password()`` reads the value after a label such as ``Temporary password:`` (any case)
  in the text part, falling back to the HTML part's visible text: the value is the run of
  non-whitespace characters that follows the colon, on the same line. ``field(label)`` reads any
  other labelled value (``Username:``) the same way.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import AddressHeader
from email.message import EmailMessage
from functools import cached_property
from html.parser import HTMLParser

__all__ = ["Address", "Attachment", "Message", "parse_message"]

_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+")
# A URL at the end of a sentence or in brackets does not own the punctuation that closes it.
_URL_TRAILING_PUNCTUATION = ".,;:!?)]}'\""


@dataclass(frozen=True)
class Address:
    name: str
    address: str

    def __str__(self) -> str:
        # Readable text, not a header: non-ASCII stays as it is rather than becoming encoded words.
        if not self.name:
            return self.address
        name = self.name
        if any(special in name for special in '()<>[]:;@\\,."'):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{self.address}>"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class Message:
    id: str
    received_at: datetime
    # the SMTP transaction
    mail_from: str
    rcpt_tos: tuple[str, ...]
    smtp_utf8: bool
    peer: tuple[str, int] | None
    helo_name: str | None
    authenticated_user: str | None
    raw: bytes = field(repr=False)

    # the message itself, parsed from ``raw`` when first read (once: every reader then sees the same)
    @cached_property
    def _parsed(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)  # what policy.default builds
        return parsed

    @cached_property
    def subject(self) -> str:
        return _header_text(self._parsed, "Subject") or ""

    @cached_property
    def sender(self) -> Address | None:
        """The From header."""
        return next(iter(_addresses(self._parsed, "From")), None)

    @cached_property
    def to(self) -> tuple[Address, ...]:
        return _addresses(self._parsed, "To")

    @cached_property
    def cc(self) -> tuple[Address, ...]:
        return _addresses(self._parsed, "Cc")

    @cached_property
    def reply_to(self) -> tuple[Address, ...]:
        return _addresses(self._parsed, "Reply-To")

    @cached_property
    def date(self) -> datetime | None:
        return _date(self._parsed)

    @cached_property
    def message_id(self) -> str | None:
        return _header_text(self._parsed, "Message-ID")

    @cached_property
    def text(self) -> str:
        return _body(self._parsed, "plain")

    @cached_property
    def html(self) -> str:
        return _body(self._parsed, "html")

    @cached_property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, _unescape(str(value))) for name, value in self._parsed.items())

    @cached_property
    def attachments(self) -> tuple[Attachment, ...]:
        return tuple(_attachments(self._parsed))

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every address the message went to: the envelope's, then To and Cc not already there."""
        seen = {address.lower() for address in self.rcpt_tos}
        extra = [a.address for a in (*self.to, *self.cc) if a.address.lower() not in seen]
        return (*self.rcpt_tos, *dict.fromkeys(extra))

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for header_name, value in self.headers if header_name.lower() == wanted]

    @property
    def visible_text(self) -> str:
        """The text part, or the HTML part's visible text when there is no text part."""
        return self.text or html_to_text(self.html)

    @property
    def snippet(self) -> str:
        return " ".join(self.visible_text.split())[:250]

    def links(self) -> list[str]:
        found = [_strip_trailing_punctuation(url) for url in _URL_IN_TEXT.findall(self.text)]
        found += _LinkCollector.collect(self.html)
        return list(dict.fromkeys(link for link in found if link))

    def extract_link(self, pattern: str | re.Pattern[str] | None = None) -> str:
        """The first link (matching ``pattern``, searched anywhere in the URL); LookupError if none."""
        links = self.links()
        wanted = re.compile(pattern) if isinstance(pattern, str) else pattern
        for link in links:
            if wanted is None or wanted.search(link):
                return link
        looked_for = f" matching {wanted.pattern!r}" if wanted is not None else ""
        raise LookupError(f"message {self.id} ({self.subject!r}) has no link{looked_for}; links: {links}")

    def field(self, label: str) -> str:
        """The value after ``label:`` on the same line; LookupError if the label is absent."""
        pattern = re.compile(rf"{re.escape(label)}\s*:[ \t]*(\S+)", re.IGNORECASE)
        for body in (self.text, html_to_text(self.html)):
            found = pattern.search(body)
            if found:
                return found.group(1)
        raise LookupError(f"message {self.id} ({self.subject!r}) has no {label!r} field")

    def extract_password(self, label: str = "Temporary password") -> str:
        return self.field(label)


def parse_message(
    raw: bytes,
    *,
    id: str,
    received_at: datetime,
    mail_from: str,
    rcpt_tos: tuple[str, ...] | list[str],
    smtp_utf8: bool = False,
    peer: tuple[str, int] | None = None,
    helo_name: str | None = None,
    authenticated_user: str | None = None,
) -> Message:
    return Message(
        id=id,
        received_at=received_at,
        mail_from=mail_from,
        rcpt_tos=tuple(rcpt_tos),
        smtp_utf8=smtp_utf8,
        peer=peer,
        helo_name=helo_name,
        authenticated_user=authenticated_user,
        raw=raw,
    )


def html_to_text(html: str) -> str:
    return _TextCollector.collect(html) if html else ""


# parsing helpers: a malformed header must not cost the whole message, so each one degrades alone


def _unescape(value: str) -> str:
    # The bytes parser keeps raw 8-bit header bytes as surrogate escapes; SMTPUTF8 mail is UTF-8.
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _header_text(parsed: EmailMessage, name: str) -> str | None:
    try:
        value = parsed.get(name)
    except (ValueError, IndexError, TypeError):
        return None
    return None if value is None else _unescape(str(value)).strip()


def _addresses(parsed: EmailMessage, name: str) -> tuple[Address, ...]:
    try:
        header = parsed[name]
    except (ValueError, IndexError, TypeError):
        header = None
    if header is None:
        return ()
    if isinstance(header, AddressHeader):
        return tuple(Address(_unescape(a.display_name), _unescape(a.addr_spec)) for a in header.addresses)
    return tuple(Address(n, a) for n, a in email.utils.getaddresses([_unescape(str(header))]) if a)


def _date(parsed: EmailMessage) -> datetime | None:
    value = _header_text(parsed, "Date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _body(parsed: EmailMessage, subtype: str) -> str:
    part = parsed.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a broken transfer encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _attachments(parsed: EmailMessage) -> list[Attachment]:
    found = []
    for part in parsed.iter_attachments():
        payload = part.get_payload(decode=True)
        found.append(Attachment(
            filename=part.get_filename() or "",
            content_type=part.get_content_type(),
            content=payload if isinstance(payload, bytes) else b"",
        ))
    return found


def _strip_trailing_punctuation(url: str) -> str:
    return url.rstrip(_URL_TRAILING_PUNCTUATION)


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href and href.strip().lower().startswith(("http://", "https://")):
                self.links.append(href.strip())

    @classmethod
    def collect(cls, html: str) -> list[str]:
        if not html:
            return []
        collector = cls()
        collector.feed(html)
        collector.close()
        return collector.links


class _TextCollector(HTMLParser):
    _INVISIBLE = frozenset({"script", "style", "head", "title"})
    _LINE_BREAKING = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table"})
    _CELLS = frozenset({"td", "th"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._INVISIBLE:
            self._hidden_depth += 1
        elif tag in self._LINE_BREAKING:
            self.chunks.append("\n")
        elif tag in self._CELLS:
            self.chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._INVISIBLE:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in self._LINE_BREAKING:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.chunks.append(data)

    @classmethod
    def collect(cls, html: str) -> str:
        collector = cls()
        collector.feed(html)
        collector.close()
        lines = (" ".join(line.split()) for line in "".join(collector.chunks).splitlines())
        return "\n".join(line for line in lines if line)
