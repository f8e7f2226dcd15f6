"""Where captured mail is kept, how it is searched, and how a test waits for it.

Mailboxes keep concurrent tests apart. Mail belongs to mailbox ``ns`` when one of its envelope
recipients is sub-addressed with ``+ns`` (``alice+ns@example.com``) or is in the domain
``ns.test`` (``alice@ns.test``). ``Mailbox.address("alice")`` hands out the first form, which
ordinary email validation accepts. Names are compared without regard to case.

The store is shared by the SMTP server, the JSON API and the tests, which may run on different
threads and event loops, so every read and write holds one lock, and a waiter is woken on its own
loop (``call_soon_threadsafe``) or through a ``threading.Condition``: nothing waits by polling.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sim.smtp.message import Message, html_to_text

__all__ = [
    "MailView",
    "MailWaitTimeout",
    "Mailbox",
    "MessageQuery",
    "MessageStore",
    "SearchTerm",
    "in_mailbox",
]

SearchField = Literal["to", "from", "subject", "body", "any"]
Predicate = Callable[[Message], bool]

_MAILBOX_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*", re.IGNORECASE)
_SEARCH_PREFIXES: dict[str, SearchField] = {"to": "to", "from": "from", "subject": "subject"}


def in_mailbox(address: str, name: str) -> bool:
    local, _, domain = address.rpartition("@")
    name = name.lower()
    tagged = "+" in local and local.rsplit("+", 1)[1].lower() == name
    return tagged or domain.lower() == f"{name}.test"


# searching


def _recipient_texts(message: Message) -> list[str]:
    return [*message.rcpt_tos, *(str(a) for a in (*message.to, *message.cc))]


def _sender_texts(message: Message) -> list[str]:
    return [message.mail_from, *([str(message.sender)] if message.sender else [])]


def _body_texts(message: Message) -> list[str]:
    return [message.text, html_to_text(message.html)]


_HAYSTACKS: dict[SearchField, Callable[[Message], list[str]]] = {
    "to": _recipient_texts,
    "from": _sender_texts,
    "subject": lambda message: [message.subject],
    "body": _body_texts,
    "any": lambda message: [
        message.subject, *_recipient_texts(message), *_sender_texts(message), *_body_texts(message),
    ],
}


@dataclass(frozen=True)
class SearchTerm:
    """One condition, matched as a case-insensitive substring.

    ``to`` looks at the envelope recipients and the To and Cc headers; ``from`` at the envelope
    sender and the From header; ``body`` at the text part and the HTML part's visible text;
    ``any`` at all of those and the subject.
    """

    field: SearchField
    value: str
    negated: bool = False

    def matches(self, message: Message) -> bool:
        needle = self.value.lower()
        found = any(needle in haystack.lower() for haystack in _HAYSTACKS[self.field](message))
        return found != self.negated

    def __str__(self) -> str:
        prefix = "" if self.field == "any" else f"{self.field}:"
        return f"{'-' if self.negated else ''}{prefix}{self.value!r}"


@dataclass(frozen=True)
class MessageQuery:
    """Every term must hold (and ``where``, when given)."""

    terms: tuple[SearchTerm, ...] = ()
    where: Predicate | None = None

    @classmethod
    def of(
        cls,
        *,
        to: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        contains: str | None = None,
        where: Predicate | None = None,
    ) -> MessageQuery:
        given: list[tuple[SearchField, str | None]] = [
            ("to", to), ("from", sender), ("subject", subject), ("body", contains),
        ]
        return cls(tuple(SearchTerm(name, value) for name, value in given if value is not None), where)

    @classmethod
    def parse(cls, query: str) -> MessageQuery:
        """Mailpit's search syntax: ``to:``, ``from:``, ``subject:`` and free words, quoted with
        ``"..."`` to keep spaces, negated with a leading ``-`` or ``!``."""
        terms = []
        for token in shlex.split(query):
            negated = token[:1] in ("-", "!") and len(token) > 1
            token = token[1:] if negated else token
            prefix, colon, value = token.partition(":")
            search_field = _SEARCH_PREFIXES.get(prefix.lower()) if colon else None
            if search_field is not None and value:
                terms.append(SearchTerm(search_field, value, negated))
            else:
                terms.append(SearchTerm("any", token, negated))
        return cls(tuple(terms))

    def matches(self, message: Message) -> bool:
        return all(term.matches(message) for term in self.terms) and (self.where is None or self.where(message))

    def __str__(self) -> str:
        described = [str(term) for term in self.terms]
        if self.where is not None:
            described.append(f"where={getattr(self.where, '__name__', repr(self.where))}")
        return " ".join(described) or "any message"


class MailWaitTimeout(TimeoutError):
    """No matching mail arrived in time; the message lists what did arrive."""


# storing and waiting


@dataclass(eq=False)
class _LoopWaiter:
    loop: asyncio.AbstractEventLoop
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.arrived.set)


class MessageStore:
    """Captured messages in arrival order, by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._messages: dict[str, Message] = {}
        self._loop_waiters: set[_LoopWaiter] = set()
        self.all = MailView(self, scope=None, label="all mail")

    def add(self, message: Message) -> None:
        with self._lock:
            self._messages[message.id] = message
            self._changed.notify_all()
            waiters = list(self._loop_waiters)
        for waiter in waiters:
            waiter.wake()

    def select(self, query: MessageQuery | None = None, scope: Predicate | None = None) -> list[Message]:
        with self._lock:
            return self._select_locked(query, scope)

    def _select_locked(self, query: MessageQuery | None, scope: Predicate | None) -> list[Message]:
        return [
            message for message in self._messages.values()
            if (scope is None or scope(message)) and (query is None or query.matches(message))
        ]

    def get(self, message_id: str) -> Message | None:
        with self._lock:
            return self._messages.get(message_id)

    def delete(self, message_ids: list[str] | tuple[str, ...]) -> int:
        with self._lock:
            return sum(self._messages.pop(message_id, None) is not None for message_id in message_ids)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def reset(self) -> None:
        self.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)

    async def wait(
        self, query: MessageQuery, scope: Predicate | None, *, count: int, timeout: float, label: str,  # noqa: ASYNC109 - a deadline is part of what a test asks for, as in Mailpit clients
    ) -> list[Message]:
        waiter = _LoopWaiter(asyncio.get_running_loop())
        with self._lock:
            self._loop_waiters.add(waiter)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    # Cleared before looking, so an arrival after the look still wakes us.
                    waiter.arrived.clear()
                    found = self.select(query, scope)
                    if len(found) >= count:
                        return found
                    await waiter.arrived.wait()
        except TimeoutError:
            raise self._timeout(query, scope, count=count, timeout=timeout, label=label) from None
        finally:
            with self._lock:
                self._loop_waiters.discard(waiter)

    def wait_blocking(
        self, query: MessageQuery, scope: Predicate | None, *, count: int, timeout: float, label: str,
    ) -> list[Message]:
        if _inside_event_loop():
            raise RuntimeError(f"waiting for {label} would block this thread's event loop: await wait_for")
        found: list[Message] = []

        def enough() -> bool:
            nonlocal found
            found = self._select_locked(query, scope)
            return len(found) >= count

        with self._changed:
            if self._changed.wait_for(enough, timeout):
                return found
        raise self._timeout(query, scope, count=count, timeout=timeout, label=label)

    def _timeout(
        self, query: MessageQuery, scope: Predicate | None, *, count: int, timeout: float, label: str,
    ) -> MailWaitTimeout:
        arrived = self.select(None, scope)
        wanted = f"{count} messages" if count > 1 else "a message"
        lines = [f"{label}: {wanted} matching {query} did not arrive within {timeout:g} s."]
        if not arrived:
            lines.append("Nothing arrived there.")
        else:
            lines.append(f"{len(arrived)} arrived there (latest last):")
            lines += [f"  {_describe(message)}" for message in arrived[-10:]]
        if scope is not None:
            elsewhere = len(self) - len(arrived)
            if elsewhere:
                lines.append(f"{elsewhere} other messages arrived for other mailboxes.")
        return MailWaitTimeout("\n".join(lines))


def _inside_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _describe(message: Message) -> str:
    recipients = ", ".join(message.rcpt_tos)
    return f"{message.id} at {message.received_at:%H:%M:%S} from {message.mail_from} to {recipients}: " \
           f"{message.subject!r}"


class MailView:
    """A window on the store: all mail, or one mailbox. Lists run oldest first."""

    def __init__(self, store: MessageStore, *, scope: Predicate | None, label: str) -> None:
        self._store = store
        self._scope = scope
        self.label = label

    def messages(self) -> list[Message]:
        return self._store.select(None, self._scope)

    def search(
        self,
        query: str | MessageQuery | None = None,
        *,
        to: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        contains: str | None = None,
        where: Predicate | None = None,
    ) -> list[Message]:
        """By keyword filters, or by a Mailpit query string (``'to:bob subject:"Welcome"'``)."""
        keywords = MessageQuery.of(to=to, sender=sender, subject=subject, contains=contains, where=where)
        return self._store.select(_combine(query, keywords), self._scope)

    def latest(
        self,
        *,
        to: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        contains: str | None = None,
        where: Predicate | None = None,
    ) -> Message | None:
        found = self.search(to=to, sender=sender, subject=subject, contains=contains, where=where)
        return found[-1] if found else None

    def get(self, message_id: str) -> Message:
        message = self._store.get(message_id)
        if message is None or (self._scope is not None and not self._scope(message)):
            raise KeyError(f"no message {message_id!r} in {self.label}")
        return message

    async def wait_for(
        self,
        *,
        to: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        contains: str | None = None,
        where: Predicate | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline is part of what a test asks for, as in Mailpit clients
    ) -> Message:
        """The latest matching message, as soon as there is one (mail already here counts).

        Raises ``MailWaitTimeout`` (a ``TimeoutError``) after ``timeout`` real seconds, listing
        what did arrive.
        """
        query = MessageQuery.of(to=to, sender=sender, subject=subject, contains=contains, where=where)
        found = await self._store.wait(query, self._scope, count=1, timeout=timeout, label=self.label)
        return found[-1]

    async def wait_for_count(
        self,
        count: int,
        *,
        to: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        contains: str | None = None,
        where: Predicate | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline is part of what a test asks for, as in Mailpit clients
    ) -> list[Message]:
        """All matching messages, once there are at least ``count``."""
        query = MessageQuery.of(to=to, sender=sender, subject=subject, contains=contains, where=where)
        return await self._store.wait(query, self._scope, count=count, timeout=timeout, label=self.label)

    def wait_for_sync(
        self,
        *,
        to: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        contains: str | None = None,
        where: Predicate | None = None,
        timeout: float = 5.0,
    ) -> Message:
        """``wait_for`` for a blocking caller, while the server runs on another thread."""
        query = MessageQuery.of(to=to, sender=sender, subject=subject, contains=contains, where=where)
        found = self._store.wait_blocking(query, self._scope, count=1, timeout=timeout, label=self.label)
        return found[-1]

    def delete(self, *message_ids: str) -> int:
        owned = [message_id for message_id in message_ids if self._owns(message_id)]
        return self._store.delete(owned)

    def clear(self) -> int:
        return self._store.delete([message.id for message in self.messages()])

    def _owns(self, message_id: str) -> bool:
        message = self._store.get(message_id)
        return message is not None and (self._scope is None or self._scope(message))

    def __len__(self) -> int:
        return len(self.messages())


class Mailbox(MailView):
    """The mail of one namespace; see the module docstring for which mail that is."""

    def __init__(self, store: MessageStore, name: str) -> None:
        if not _MAILBOX_NAME.fullmatch(name):
            raise ValueError(f"a mailbox name is letters, digits, '.', '_' and '-', not {name!r}")
        self.name = name
        super().__init__(store, scope=self._holds, label=f"mailbox {name!r}")

    def address(self, local_part: str = "user", domain: str = "example.com") -> str:
        return f"{local_part}+{self.name}@{domain}"

    def _holds(self, message: Message) -> bool:
        return any(in_mailbox(recipient, self.name) for recipient in message.rcpt_tos)


def _combine(query: str | MessageQuery | None, keywords: MessageQuery) -> MessageQuery:
    if query is None:
        return keywords
    parsed = MessageQuery.parse(query) if isinstance(query, str) else query
    if parsed.where is not None and keywords.where is not None:
        raise ValueError("give `where` once: in the query or as a keyword")
    return MessageQuery((*parsed.terms, *keywords.terms), parsed.where or keywords.where)
