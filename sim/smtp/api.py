"""The captured-mail API, shaped like Mailpit's so its clients and habits carry over.

Mailpit routes (``/api/v1``):

- ``GET /messages?start=&limit=`` lists messages newest first: ``{total, unread, count,
  messages_count, start, tags, messages: [summary]}``;
- ``DELETE /messages`` deletes all, or those in the body ``{"IDs": [...]}``;
- ``GET /message/{id}`` (``latest`` is the newest), ``/message/{id}/headers``, ``/message/{id}/raw``;
- ``GET /search?query=&start=&limit=`` and ``DELETE /search?query=``, with Mailpit's query syntax
  (``to:``, ``from:``, ``subject:``, free words, ``"quoted phrases"``, ``-negation``);
- ``GET /chaos`` and ``PUT /chaos``: Mailpit's triggers (Sender, Recipient, Authentication; an error
  code and a probability in percent), drawn here from the seed.

Extensions of the sandbox: each message carries ``SMTP`` (the envelope and session); ``GET /faults``
shows fault rules and the journal, ``POST /faults`` adds a rule (``fail_next``, ``error_rate``,
``outage``, ``drop_during_data``), ``DELETE /faults`` removes every rule; ``POST /reset`` forgets
mail, logins and faults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias

import msgspec
from litestar import Controller, Litestar, MediaType, Request, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.types import ControllerRouterHandler

from sim.smtp.faults import InjectedSmtpFault, SmtpFaultRule, SmtpFaults, Stage
from sim.smtp.message import Address, Message
from sim.smtp.store import MessageQuery, MessageStore

__all__ = ["create_api_app"]

ResetAll = Callable[[], None]

# What route handlers ask for by name.
Store: TypeAlias = NamedDependency[MessageStore]
Faults: TypeAlias = NamedDependency[SmtpFaults]
ResetAllDependency: TypeAlias = NamedDependency[ResetAll]

_CHAOS_STAGES: dict[str, Stage] = {"Sender": "MAIL", "Recipient": "RCPT", "Authentication": "AUTH"}
_CHAOS_DEFAULT_CODES = {"Sender": 451, "Recipient": 451, "Authentication": 535}


# shapes


class AddressOut(msgspec.Struct, rename="pascal"):
    name: str
    address: str


class AttachmentOut(msgspec.Struct, rename="pascal"):
    part_id: str = msgspec.field(name="PartID")
    file_name: str
    content_type: str
    content_id: str = msgspec.field(name="ContentID")
    size: int


class MessageSummaryOut(msgspec.Struct, rename="pascal"):
    id: str = msgspec.field(name="ID")
    message_id: str = msgspec.field(name="MessageID")
    read: bool
    from_: AddressOut | None = msgspec.field(name="From")
    to: list[AddressOut]
    cc: list[AddressOut]
    bcc: list[AddressOut]
    reply_to: list[AddressOut]
    subject: str
    created: str
    username: str
    tags: list[str]
    size: int
    attachments: int
    snippet: str


class MessagesOut(msgspec.Struct):
    total: int
    unread: int
    count: int
    messages_count: int
    start: int
    tags: list[str]
    messages: list[MessageSummaryOut]


class SmtpSessionOut(msgspec.Struct, rename="pascal"):
    mail_from: str
    rcpt_to: list[str]
    smtp_utf8: bool = msgspec.field(name="SMTPUTF8")
    peer: str
    helo: str
    authenticated_user: str


class MessageOut(msgspec.Struct, rename="pascal"):
    id: str = msgspec.field(name="ID")
    message_id: str = msgspec.field(name="MessageID")
    from_: AddressOut | None = msgspec.field(name="From")
    to: list[AddressOut]
    cc: list[AddressOut]
    bcc: list[AddressOut]
    reply_to: list[AddressOut]
    return_path: str
    subject: str
    date: str
    tags: list[str]
    username: str
    text: str
    html: str = msgspec.field(name="HTML")
    size: int
    inline: list[AttachmentOut]
    attachments: list[AttachmentOut]
    smtp: SmtpSessionOut = msgspec.field(name="SMTP")


class DeleteMessagesIn(msgspec.Struct, rename="pascal"):
    ids: list[str] = msgspec.field(name="IDs", default_factory=list)


class ChaosTrigger(msgspec.Struct, rename="pascal"):
    error_code: int = 0
    probability: int = 0


class ChaosTriggers(msgspec.Struct, rename="pascal"):
    sender: ChaosTrigger = msgspec.field(default_factory=ChaosTrigger)
    recipient: ChaosTrigger = msgspec.field(default_factory=ChaosTrigger)
    authentication: ChaosTrigger = msgspec.field(default_factory=ChaosTrigger)


class FaultIn(msgspec.Struct, rename="pascal"):
    kind: Literal["fail_next", "error_rate", "outage", "drop_during_data"]
    code: int | None = None
    message: str | None = None
    stage: Stage = "RCPT"
    count: int = 1
    probability: float = 0.0
    seconds: float | None = None
    start_in: float = 0.0


class FaultRuleOut(msgspec.Struct, rename="pascal"):
    kind: str
    stage: str | None
    code: int | None
    reply: str | None
    remaining: int | None
    probability: float
    starts_at: float | None
    ends_at: float | None
    label: str


class InjectedFaultOut(msgspec.Struct, rename="pascal"):
    at: float
    kind: str
    stage: str
    code: int | None
    reply: str | None
    peer: str
    mail_from: str
    rule_label: str


class FaultsOut(msgspec.Struct, rename="pascal"):
    rules: list[FaultRuleOut]
    journal: list[InjectedFaultOut]


# mapping


def _address_out(address: Address) -> AddressOut:
    return AddressOut(name=address.name, address=address.address)


def _timestamp(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _peer(peer: tuple[str, int] | None) -> str:
    return "" if peer is None else f"{peer[0]}:{peer[1]}"


def _bcc(message: Message) -> list[AddressOut]:
    # As Mailpit does: envelope recipients that no header names were blind copies.
    named = {address.address.lower() for address in (*message.to, *message.cc)}
    return [AddressOut(name="", address=r) for r in message.rcpt_tos if r.lower() not in named]


def _attachments_out(message: Message) -> list[AttachmentOut]:
    return [
        AttachmentOut(part_id=str(index), file_name=a.filename, content_type=a.content_type, content_id="",
                      size=a.size)
        for index, a in enumerate(message.attachments, start=1)
    ]


def summary_out(message: Message) -> MessageSummaryOut:
    return MessageSummaryOut(
        id=message.id,
        message_id=(message.message_id or "").strip("<>"),
        read=False,
        from_=_address_out(message.sender) if message.sender else None,
        to=[_address_out(a) for a in message.to],
        cc=[_address_out(a) for a in message.cc],
        bcc=_bcc(message),
        reply_to=[_address_out(a) for a in message.reply_to],
        subject=message.subject,
        created=_timestamp(message.received_at),
        username=message.authenticated_user or "",
        tags=[],
        size=message.size,
        attachments=len(message.attachments),
        snippet=message.snippet,
    )


def message_out(message: Message) -> MessageOut:
    return MessageOut(
        id=message.id,
        message_id=(message.message_id or "").strip("<>"),
        from_=_address_out(message.sender) if message.sender else None,
        to=[_address_out(a) for a in message.to],
        cc=[_address_out(a) for a in message.cc],
        bcc=_bcc(message),
        reply_to=[_address_out(a) for a in message.reply_to],
        return_path=message.mail_from,
        subject=message.subject,
        date=_timestamp(message.date or message.received_at),
        tags=[],
        username=message.authenticated_user or "",
        text=message.text,
        html=message.html,
        size=message.size,
        inline=[],
        attachments=_attachments_out(message),
        smtp=SmtpSessionOut(
            mail_from=message.mail_from,
            rcpt_to=list(message.rcpt_tos),
            smtp_utf8=message.smtp_utf8,
            peer=_peer(message.peer),
            helo=message.helo_name or "",
            authenticated_user=message.authenticated_user or "",
        ),
    )


def _page(messages: list[Message], *, total: int, start: int, limit: int) -> MessagesOut:
    newest_first = list(reversed(messages))
    page = newest_first[start:start + limit] if limit > 0 else newest_first[start:]
    return MessagesOut(
        total=total,
        unread=len(messages),  # nothing is ever marked read here
        count=len(page),
        messages_count=len(messages),
        start=start,
        tags=[],
        messages=[summary_out(message) for message in page],
    )


def _rule_out(rule: SmtpFaultRule) -> FaultRuleOut:
    return FaultRuleOut(
        kind=rule.kind, stage=rule.stage, code=rule.code, reply=rule.reply if rule.kind == "reply" else None,
        remaining=rule.remaining, probability=rule.probability, starts_at=rule.starts_at,
        ends_at=rule.ends_at, label=rule.label,
    )


def _injected_out(injected: InjectedSmtpFault) -> InjectedFaultOut:
    return InjectedFaultOut(
        at=injected.at, kind=injected.kind, stage=injected.stage, code=injected.code, reply=injected.reply,
        peer=_peer(injected.peer), mail_from=injected.mail_from or "", rule_label=injected.rule_label,
    )


def _parse_query(query: str) -> MessageQuery:
    try:
        return MessageQuery.parse(query)
    except ValueError as error:  # an unbalanced quote
        raise ValidationException(f"cannot parse the search query: {error}") from error


def _chaos_label(trigger: str) -> str:
    return f"chaos:{trigger}"


def chaos_triggers(faults: SmtpFaults) -> ChaosTriggers:
    rules = {rule.label: rule for rule in faults.rules}
    triggers = {}
    for trigger, default_code in _CHAOS_DEFAULT_CODES.items():
        rule = rules.get(_chaos_label(trigger))
        triggers[trigger.lower()] = ChaosTrigger(
            error_code=(rule.code or default_code) if rule else default_code,
            probability=round(rule.probability * 100) if rule else 0,
        )
    return ChaosTriggers(**triggers)


# routes

SearchQuery = Annotated[str, QueryParameter(name="query")]  # ``query`` itself is a name Litestar reserves
Start = Annotated[int, QueryParameter(ge=0)]
Limit = Annotated[int, QueryParameter(ge=0)]


class MessagesController(Controller):
    path = "/api/v1"
    tags = ["messages"]

    @get("/messages")
    async def list_messages(self, store: Store, start: Start = 0, limit: Limit = 50) -> MessagesOut:
        messages = store.select()
        return _page(messages, total=len(messages), start=start, limit=limit)

    @delete("/messages", status_code=200, media_type=MediaType.TEXT)
    async def delete_messages(self, store: Store, request: Request[Any, Any, Any]) -> str:
        # The body is optional (no body: delete everything), which a typed ``data`` cannot express.
        body = await request.body()
        try:
            ids = msgspec.json.decode(body, type=DeleteMessagesIn).ids if body.strip() else []
        except msgspec.DecodeError as error:
            raise ValidationException(f"expected {{\"IDs\": [...]}}: {error}") from error
        if ids:
            store.delete(ids)
        else:
            store.clear()
        return "ok"

    @get("/message/{message_id:str}")
    async def get_message(self, store: Store, message_id: FromPath[str]) -> MessageOut:
        return message_out(_find(store, message_id))

    @get("/message/{message_id:str}/headers")
    async def get_headers(self, store: Store, message_id: FromPath[str]) -> dict[str, list[str]]:
        headers: dict[str, list[str]] = {}
        for name, value in _find(store, message_id).headers:
            headers.setdefault(name, []).append(value)
        return headers

    @get("/message/{message_id:str}/raw", media_type=MediaType.TEXT)
    async def get_raw(self, store: Store, message_id: FromPath[str]) -> bytes:
        return _find(store, message_id).raw

    @get("/search")
    async def search(self, store: Store, search_query: SearchQuery, start: Start = 0, limit: Limit = 50) -> MessagesOut:
        found = store.select(_parse_query(search_query))
        return _page(found, total=len(store), start=start, limit=limit)

    @delete("/search", status_code=200, media_type=MediaType.TEXT)
    async def delete_search(self, store: Store, search_query: SearchQuery) -> str:
        store.delete([message.id for message in store.select(_parse_query(search_query))])
        return "ok"


class FaultsController(Controller):
    path = "/api/v1"
    tags = ["faults"]

    @get("/chaos")
    async def get_chaos(self, faults: Faults) -> ChaosTriggers:
        return chaos_triggers(faults)

    @put("/chaos")
    async def set_chaos(self, faults: Faults, data: JSONBody[ChaosTriggers]) -> ChaosTriggers:
        # As in Mailpit, a trigger left out of the body is switched off.
        given = {"Sender": data.sender, "Recipient": data.recipient, "Authentication": data.authentication}
        for trigger, settings in given.items():
            code = settings.error_code or _CHAOS_DEFAULT_CODES[trigger]
            if not 400 <= code <= 599:
                raise ValidationException("error code must be between 400 and 599")
            if not 0 <= settings.probability <= 100:
                raise ValidationException("probability must be between 0 and 100")
        for trigger, settings in given.items():
            faults.remove_labelled(_chaos_label(trigger))
            if settings.probability:
                faults.error_rate(settings.probability / 100, code=settings.error_code or
                                  _CHAOS_DEFAULT_CODES[trigger], stage=_CHAOS_STAGES[trigger],
                                  label=_chaos_label(trigger))
        return chaos_triggers(faults)

    @get("/faults")
    async def get_faults(self, faults: Faults) -> FaultsOut:
        return FaultsOut(rules=[_rule_out(r) for r in faults.rules],
                         journal=[_injected_out(i) for i in faults.journal])

    @post("/faults")
    async def add_fault(self, faults: Faults, data: JSONBody[FaultIn]) -> FaultRuleOut:
        try:
            if data.kind == "fail_next":
                rule = faults.fail_next(data.count, code=data.code or 451, message=data.message, stage=data.stage)
            elif data.kind == "error_rate":
                rule = faults.error_rate(data.probability, code=data.code or 451, message=data.message,
                                         stage=data.stage)
            elif data.kind == "outage":
                rule = faults.outage(data.seconds, start_in=data.start_in, code=data.code or 421,
                                     message=data.message)
            else:
                rule = faults.drop_during_data(data.count)
        except ValueError as error:
            raise ValidationException(str(error)) from error
        return _rule_out(rule)

    @delete("/faults", status_code=200, media_type=MediaType.TEXT)
    async def clear_faults(self, faults: Faults) -> str:
        faults.clear()
        return "ok"

    @post("/reset", status_code=200, media_type=MediaType.TEXT)
    async def reset(self, reset_all: ResetAllDependency) -> str:
        reset_all()
        return "ok"


def _find(store: MessageStore, message_id: FromPath[str]) -> Message:
    if message_id == "latest":
        messages = store.select()
        if messages:
            return messages[-1]
    else:
        message = store.get(message_id)
        if message is not None:
            return message
    raise NotFoundException(f"message {message_id!r} not found")


def create_api_app(store: MessageStore, faults: SmtpFaults, *, reset_all: ResetAll,
                   extra: Sequence[ControllerRouterHandler] = ()) -> Litestar:
    """The JSON API; ``extra`` adds routes beside it (the fake's web inbox and admin API)."""
    def provide_store() -> MessageStore:
        return store

    def provide_faults() -> SmtpFaults:
        return faults

    def provide_reset_all() -> ResetAll:
        return reset_all

    return Litestar(
        route_handlers=[MessagesController, FaultsController, *extra],
        dependencies={
            "store": Provide(provide_store, sync_to_thread=False),
            "faults": Provide(provide_faults, sync_to_thread=False),
            "reset_all": Provide(provide_reset_all, sync_to_thread=False),
        },
        signature_namespace={"Store": Store, "Faults": Faults, "ResetAllDependency": ResetAllDependency},
    )
