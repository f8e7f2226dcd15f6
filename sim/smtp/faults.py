"""Faults that the SMTP fake answers with instead of accepting mail.

A *delivery* is one SMTP transaction (MAIL FROM, RCPT TO..., DATA). Rules are matched in the order
they were added, and each delivery is decided once, at MAIL FROM, from the virtual clock and the
seed's ``faults.smtp`` stream; the chosen rule then answers at its stage:

- ``MAIL``: the MAIL FROM reply;
- ``RCPT``: every RCPT TO reply of that delivery (so a client sees all its recipients refused);
- ``DATA``: the reply after the message content, which is then not stored.

Two stages are decided where they happen instead: ``CONNECT`` (the greeting) when a client
connects, and ``AUTH`` when it authenticates. A reply with code 421 ("service not available,
closing transmission channel") is followed by the server closing the connection, as RFC 5321 says.

    smtp.faults.fail_next(1, code=451)                       # greylisting: one delivery, at RCPT
    smtp.faults.fail_next(2, code=554, stage="DATA")         # content refused twice
    smtp.faults.error_rate(0.3, code=451)                    # drawn from the seed
    smtp.faults.outage(seconds=60)                           # 421 for 60 virtual seconds
    smtp.faults.drop_during_data()                           # the connection dies mid-message

Every injected fault is written to ``journal``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, get_args

from sim.clock import VirtualClock
from sim.seed import Seed

__all__ = ["InjectedSmtpFault", "SmtpFaultRule", "SmtpFaults", "Stage"]

Stage = Literal["CONNECT", "AUTH", "MAIL", "RCPT", "DATA"]
DecisionPoint = Literal["CONNECT", "AUTH", "MAIL"]
STAGES: tuple[Stage, ...] = get_args(Stage)

# Enhanced status codes (RFC 3463) a real server would put after the basic code.
_DEFAULT_TEXT = {
    421: "4.3.2 Service not available, closing transmission channel",
    450: "4.2.1 Mailbox unavailable, try again later",
    451: "4.3.0 Try again later",
    452: "4.3.1 Insufficient system storage",
    454: "4.7.0 Temporary authentication failure",
    535: "5.7.8 Authentication credentials invalid",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message too big",
    554: "5.3.0 Transaction failed",
}


def default_reply_text(code: int) -> str:
    return _DEFAULT_TEXT.get(code, f"{code // 100}.0.0 Injected failure")


_DECIDED_AT: dict[Stage, DecisionPoint] = {
    "CONNECT": "CONNECT", "AUTH": "AUTH", "MAIL": "MAIL", "RCPT": "MAIL", "DATA": "MAIL",
}


@dataclass
class SmtpFaultRule:
    kind: Literal["reply", "drop"]
    stage: Stage | None  # None: answer at whichever decision point comes first (outages)
    code: int | None = None  # None for a drop
    text: str = ""
    remaining: int | None = None  # None: unlimited
    probability: float = 1.0
    starts_at: float | None = None
    ends_at: float | None = None
    label: str = ""

    @property
    def reply(self) -> str:
        return f"{self.code} {self.text}"

    def considered_at(self, point: DecisionPoint) -> bool:
        return self.stage is None or _DECIDED_AT[self.stage] == point

    def live(self, now: float) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.starts_at is not None and now < self.starts_at:
            return False
        return self.ends_at is None or now < self.ends_at


@dataclass(frozen=True)
class InjectedSmtpFault:
    at: float
    kind: Literal["reply", "drop"]
    stage: Stage
    code: int | None
    reply: str | None
    peer: tuple[str, int] | None
    mail_from: str | None
    rule_label: str


class SmtpFaults:
    def __init__(self, clock: VirtualClock, seed: Seed, name: str = "smtp") -> None:
        self.name = name
        self.clock = clock
        self.seed = seed
        self._rules: list[SmtpFaultRule] = []
        self._journal: list[InjectedSmtpFault] = []
        # Tests program faults from their own thread while the server decides on its own.
        self._lock = threading.Lock()

    @property
    def rules(self) -> list[SmtpFaultRule]:
        with self._lock:
            return list(self._rules)

    @property
    def journal(self) -> list[InjectedSmtpFault]:
        with self._lock:
            return list(self._journal)

    # programming

    def fail_next(self, count: int = 1, *, code: int = 451, message: str | None = None,
                  stage: Stage = "RCPT") -> SmtpFaultRule:
        """Answer the next ``count`` deliveries (or connections, or logins) with ``code``."""
        if count < 1:
            raise ValueError("count is at least 1")
        return self._add(_reply_rule(code, message, stage, remaining=count))

    def error_rate(self, probability: float, *, code: int = 451, message: str | None = None,
                   stage: Stage = "RCPT", label: str = "") -> SmtpFaultRule:
        """Answer each delivery with ``code`` with this probability, drawn from the seed."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability is between 0 and 1")
        return self._add(_reply_rule(code, message, stage, probability=probability, label=label))

    def outage(self, seconds: float | None = None, *, start_in: float = 0.0, code: int = 421,
               message: str | None = None) -> SmtpFaultRule:
        """Refuse every connection, login and delivery for ``seconds`` of the clock (forever when
        None). Connections already open are refused at their next MAIL FROM."""
        start = self.clock.time() + start_in
        end = None if seconds is None else start + seconds
        rule = _reply_rule(code, message, None, starts_at=start, ends_at=end, label="outage")
        return self._add(rule)

    def drop_during_data(self, count: int = 1) -> SmtpFaultRule:
        """Close the connection after the client has begun sending the message content: the
        client sees a disconnect and nothing is stored."""
        if count < 1:
            raise ValueError("count is at least 1")
        return self._add(SmtpFaultRule("drop", "DATA", remaining=count))

    def remove(self, rule: SmtpFaultRule) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r is not rule]

    def remove_labelled(self, label: str) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r.label != label]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self._journal.clear()

    def _add(self, rule: SmtpFaultRule) -> SmtpFaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    # deciding

    def decide(self, point: DecisionPoint) -> SmtpFaultRule | None:
        """The rule that answers what happens at ``point``, consuming one of its uses."""
        now = self.clock.time()
        rng = self.seed.stream(f"faults.{self.name}")
        with self._lock:
            for rule in self._rules:
                if not rule.considered_at(point) or not rule.live(now):
                    continue
                if rule.probability < 1.0 and rng.random() >= rule.probability:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule
        return None

    def record(self, rule: SmtpFaultRule, stage: Stage, *, peer: tuple[str, int] | None,
               mail_from: str | None) -> InjectedSmtpFault:
        injected = InjectedSmtpFault(
            at=self.clock.time(), kind=rule.kind, stage=stage, code=rule.code,
            reply=rule.reply if rule.kind == "reply" else None,
            peer=peer, mail_from=mail_from, rule_label=rule.label,
        )
        with self._lock:
            self._journal.append(injected)
        return injected


def _reply_rule(code: int, message: str | None, stage: Stage | None, *, remaining: int | None = None,
                probability: float = 1.0, starts_at: float | None = None, ends_at: float | None = None,
                label: str = "") -> SmtpFaultRule:
    if not 400 <= code <= 599:
        raise ValueError(f"an SMTP error code is between 400 and 599, not {code}")
    if stage is not None and stage not in STAGES:
        raise ValueError(f"stage is one of {', '.join(STAGES)}, not {stage!r}")
    return SmtpFaultRule("reply", stage, code=code, text=message or default_reply_text(code),
                         remaining=remaining, probability=probability, starts_at=starts_at,
                         ends_at=ends_at, label=label)
