"""The wire between a fake that sends webhooks and the system that receives them, programmable per
message: what real networks and real senders do to webhooks, on the virtual clock and the seed.

    net = WebhookNetwork(clock, seed)
    net.duplicate(2, match="applicantReviewed")        # two extra copies of the next review
    net.delay(600, match=Match(applicant_id=a_id))      # the next message for a_id lands 10 min late
    net.hold(match="applicantPending")                  # keep every pending event back ...
    await net.release(order="reversed")                 # ... then let them in, newest first
    net.drop(match="applicantCreated")                  # the sender sees a failure, the receiver nothing
    net.lose_ack(match="applicantReviewed")             # the receiver handles it, the sender sees a
                                                        # timeout and sends it again later

A sender hands each attempt to ``transmit`` together with a ``wire`` (how to actually deliver it)
and an outcome callback. Delayed and held messages are in flight: the sender's attempt settles when
the message really arrives and the receiver answers. That models lag inside the sender's dispatch
(Sumsub's queue, a slow hop), which is what reorders webhooks in practice; a receiver that is slow
to answer is a different fault and meets the sender's own timeout.

Rules are tried in the order they were added; the first active rule that matches a message decides
its fate, once, when it enters the network. Every draw (a probability, a jitter, a random release
order) comes from the seed's ``network.*`` streams, so the same seed makes the same decisions.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sim.clock import Timer, VirtualClock
from sim.seed import Seed

__all__ = [
    "HeldMessage",
    "Match",
    "MessageMatch",
    "NetworkRecord",
    "NetworkRule",
    "OutcomeHandler",
    "WebhookMessage",
    "WebhookNetwork",
    "Wire",
    "WireResult",
]


@dataclass(frozen=True)
class WebhookMessage:
    """One delivery attempt on its way: the exact request, and what it is about."""

    id: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    delivery_id: str
    attempt: int
    event_type: str | None = None
    applicant_id: str | None = None
    external_user_id: str | None = None


@dataclass(frozen=True)
class WireResult:
    """What came back: a status, or an error when there was no answer (timeout, refused, reset)."""

    status: int | None
    error: str | None = None
    latency: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Wire = Callable[[WebhookMessage], Awaitable[WireResult]]
OutcomeHandler = Callable[[WireResult], Awaitable[None]]


@dataclass(frozen=True)
class Match:
    """Select messages by what they are about; every given field must match."""

    event_type: str | Collection[str] | None = None
    applicant_id: str | None = None
    external_user_id: str | None = None
    attempt: int | None = None

    def __call__(self, message: WebhookMessage) -> bool:
        if self.event_type is not None:
            wanted = {self.event_type} if isinstance(self.event_type, str) else set(self.event_type)
            if message.event_type not in wanted:
                return False
        if self.applicant_id is not None and message.applicant_id != self.applicant_id:
            return False
        if self.external_user_id is not None and message.external_user_id != self.external_user_id:
            return False
        return self.attempt is None or message.attempt == self.attempt


# None: every message; a string: an event type; or a Match, or any predicate
MessageMatch = str | Match | Callable[[WebhookMessage], bool] | None


def _predicate(match: MessageMatch) -> Callable[[WebhookMessage], bool]:
    if match is None:
        return lambda message: True
    if isinstance(match, str):
        return Match(event_type=match)
    return match


def _describe(match: MessageMatch) -> str:
    if match is None or isinstance(match, str | Match):
        return repr(match) if match is not None else "any"
    return getattr(match, "__name__", type(match).__name__)


RuleKind = Literal["duplicate", "delay", "hold", "drop", "lose_ack"]


@dataclass
class NetworkRule:
    kind: RuleKind
    matches: Callable[[WebhookMessage], bool]
    remaining: int | None  # None: every matching message until cancelled
    probability: float = 1.0
    copies: int = 0
    spacing: float = 0.0
    seconds: float = 0.0
    jitter: float = 0.0
    label: str = ""

    @property
    def active(self) -> bool:
        return self.remaining is None or self.remaining > 0

    def cancel(self) -> None:
        self.remaining = 0


Action = Literal["sent", "arrived", "unanswered", "dropped", "ack_lost", "delayed", "held", "released",
                 "duplicated"]


@dataclass(frozen=True)
class NetworkRecord:
    """One line of the network's journal.

    ``sent``: a message entered the network. ``arrived``: a request reached the receiver and it
    answered ``status`` (``copy`` > 0 for an injected duplicate). ``unanswered``: the wire itself
    failed (refused, reset, timed out), so the receiver may or may not have seen it. The other
    actions name what a rule did.
    """

    at: float
    action: Action
    message: WebhookMessage = field(repr=False)
    copy: int = 0
    status: int | None = None
    error: str | None = None
    rule: str = ""
    detail: str = ""

    @property
    def message_id(self) -> str:
        return self.message.id

    @property
    def delivery_id(self) -> str:
        return self.message.delivery_id

    @property
    def attempt(self) -> int:
        return self.message.attempt

    @property
    def event_type(self) -> str | None:
        return self.message.event_type

    @property
    def applicant_id(self) -> str | None:
        return self.message.applicant_id

    @property
    def body(self) -> bytes:
        return self.message.body


@dataclass
class HeldMessage:
    message: WebhookMessage
    wire: Wire = field(repr=False)
    on_outcome: OutcomeHandler = field(repr=False)
    held_at: float = 0.0


class WebhookNetwork:
    def __init__(self, clock: VirtualClock, seed: Seed, *, name: str = "network") -> None:
        self.clock = clock
        self.seed = seed
        self.name = name
        self.rules: list[NetworkRule] = []
        self.journal: list[NetworkRecord] = []
        self.held: list[HeldMessage] = []
        self._rule_numbers = itertools.count(1)
        self._timers: list[Timer] = []  # delayed deliveries and spaced copies, cancelled by reset

    # programming
    def _add(self, rule: NetworkRule, match: MessageMatch) -> NetworkRule:
        if not 0.0 <= rule.probability <= 1.0:
            raise ValueError("probability is between 0 and 1")
        if rule.remaining is not None and rule.remaining < 1:
            raise ValueError("count is at least 1, or None for every matching message")
        rule.label = f"{rule.kind}#{next(self._rule_numbers)}({_describe(match)})"
        self.rules.append(rule)
        return rule

    def duplicate(self, copies: int = 1, *, match: MessageMatch = None, count: int | None = 1,
                  spacing: float = 0.0, probability: float = 1.0) -> NetworkRule:
        """Deliver ``copies`` extra identical requests after the original, ``spacing`` clock seconds apart.

        The sender sees the original's answer only, as a real sender would.
        """
        if copies < 1:
            raise ValueError("at least one copy")
        return self._add(NetworkRule("duplicate", _predicate(match), count, probability, copies=copies,
                                     spacing=spacing), match)

    def delay(self, seconds: float, *, match: MessageMatch = None, count: int | None = 1,
              jitter: float = 0.0, probability: float = 1.0) -> NetworkRule:
        """Deliver ``seconds`` (plus up to ``jitter``, drawn from the seed) later on the clock."""
        if seconds < 0 or jitter < 0:
            raise ValueError("a delay is not negative")
        return self._add(NetworkRule("delay", _predicate(match), count, probability, seconds=seconds,
                                     jitter=jitter), match)

    def hold(self, *, match: MessageMatch = None, count: int | None = None) -> NetworkRule:
        """Keep matching messages back until ``release``."""
        return self._add(NetworkRule("hold", _predicate(match), count), match)

    def drop(self, *, match: MessageMatch = None, count: int | None = 1, probability: float = 1.0) -> NetworkRule:
        """Lose the request on the way: the receiver gets nothing, the sender sees a connection failure."""
        return self._add(NetworkRule("drop", _predicate(match), count, probability), match)

    def lose_ack(self, *, match: MessageMatch = None, count: int | None = 1,
                 probability: float = 1.0) -> NetworkRule:
        """Lose the answer: the receiver handles the request, the sender sees a timeout and will retry."""
        return self._add(NetworkRule("lose_ack", _predicate(match), count, probability), match)

    def clear(self) -> None:
        """Forget every rule; messages already held stay held."""
        self.rules.clear()

    def reset(self) -> None:
        """Forget rules, journal and held messages, and cancel what is still on its way."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.rules.clear()
        self.journal.clear()
        self.held.clear()

    # releasing
    async def release(self, order: Literal["as_sent", "reversed", "random"] | Sequence[int] = "as_sent", *,
                      keep_holding: bool = False) -> list[WebhookMessage]:
        """Deliver held messages now, one after the other, in ``order``.

        ``order`` is ``"as_sent"``, ``"reversed"``, ``"random"`` (a shuffle drawn from the seed), or
        positions in ``self.held`` (as sent): only those are released, in that order, the rest stay
        held. Hold rules are retired unless ``keep_holding``, so what is sent afterwards flows.
        """
        positions = self._release_order(order)
        chosen = [self.held[i] for i in positions]
        released = set(positions)
        self.held = [held for i, held in enumerate(self.held) if i not in released]
        if not keep_holding:
            for rule in self.rules:
                if rule.kind == "hold":
                    rule.cancel()
        for held in chosen:
            self._record("released", held.message, detail=f"held for {self.clock.time() - held.held_at:g}s")
            await self._deliver(held.message, held.wire, held.on_outcome)
        return [held.message for held in chosen]

    def _release_order(self, order: str | Sequence[int]) -> list[int]:
        count = len(self.held)
        if order == "as_sent":
            return list(range(count))
        if order == "reversed":
            return list(reversed(range(count)))
        if order == "random":
            positions = list(range(count))
            self.seed.stream(f"{self.name}.release").shuffle(positions)
            return positions
        if isinstance(order, str):
            raise ValueError(f"unknown release order {order!r}")
        positions = list(order)
        if len(set(positions)) != len(positions) or any(not 0 <= i < count for i in positions):
            raise ValueError(f"release positions must be distinct and within 0..{count - 1}: {positions}")
        return positions

    # inspecting
    def records(self, action: Action | None = None, *, match: MessageMatch = None) -> list[NetworkRecord]:
        wanted = _predicate(match)
        return [r for r in self.journal if (action is None or r.action == action) and wanted(r.message)]

    def arrivals(self, *, match: MessageMatch = None) -> list[NetworkRecord]:
        """Every request that reached the receiver, copies included, in arrival order."""
        return self.records("arrived", match=match)

    # carrying
    async def transmit(self, message: WebhookMessage, wire: Wire, on_outcome: OutcomeHandler) -> None:
        self._record("sent", message)
        rule = self._decide(message)
        if rule is None:
            await self._deliver(message, wire, on_outcome)
        elif rule.kind == "drop":
            self._record("dropped", message, rule=rule.label)
            await on_outcome(WireResult(None, "connection reset: request lost in the network"))
        elif rule.kind == "lose_ack":
            answer = await self._arrive(message, wire)
            self._record("ack_lost", message, status=answer.status, rule=rule.label)
            await on_outcome(WireResult(None, "timeout: the answer was lost in the network", answer.latency))
        elif rule.kind == "delay":
            seconds = rule.seconds
            if rule.jitter:
                seconds += self.seed.stream(f"{self.name}.jitter").uniform(0.0, rule.jitter)
            self._record("delayed", message, rule=rule.label, detail=f"{seconds:g}s")
            self._timers.append(self.clock.call_later(seconds, lambda: self._deliver(message, wire, on_outcome),
                                                      label=f"{self.name}: delayed {message.id}"))
        elif rule.kind == "hold":
            self._record("held", message, rule=rule.label)
            self.held.append(HeldMessage(message, wire, on_outcome, self.clock.time()))
        else:
            self._record("duplicated", message, rule=rule.label, detail=f"{rule.copies} extra")
            await self._deliver(message, wire, on_outcome)
            for copy in range(1, rule.copies + 1):
                if rule.spacing:
                    self._timers.append(self.clock.call_later(
                        rule.spacing * copy, self._copy_arrival(message, wire, copy),
                        label=f"{self.name}: copy {copy} of {message.id}"))
                else:
                    await self._arrive(message, wire, copy)

    def _copy_arrival(self, message: WebhookMessage, wire: Wire, copy: int) -> Callable[[], Awaitable[None]]:
        async def arrive() -> None:
            await self._arrive(message, wire, copy)

        return arrive

    def _decide(self, message: WebhookMessage) -> NetworkRule | None:
        for rule in self.rules:
            if not rule.active or not rule.matches(message):
                continue
            # drawn only for uncertain rules, so adding a certain rule never shifts later draws
            if rule.probability < 1.0 and self.seed.stream(f"{self.name}.decisions").random() >= rule.probability:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            return rule
        return None

    async def _deliver(self, message: WebhookMessage, wire: Wire, on_outcome: OutcomeHandler) -> None:
        await on_outcome(await self._arrive(message, wire))

    async def _arrive(self, message: WebhookMessage, wire: Wire, copy: int = 0) -> WireResult:
        answer = await wire(message)
        self._record("arrived" if answer.status is not None else "unanswered", message, copy=copy,
                     status=answer.status, error=answer.error)
        return answer

    def _record(self, action: Action, message: WebhookMessage, *, copy: int = 0, status: int | None = None,
                error: str | None = None, rule: str = "", detail: str = "") -> None:
        self.journal.append(NetworkRecord(self.clock.time(), action, message, copy, status, error, rule, detail))
