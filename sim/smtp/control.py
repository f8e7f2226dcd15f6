"""The SMTP fake's ``/__admin/`` API (see ``sim.control``), on its HTTP API's port.

Journal entries, oldest first: ``message`` (captured: id, mail_from, rcpt_to, subject),
``login`` (AUTH: mechanism, username; never the password) and ``fault`` (injected: stage, code,
reply, peer, mail_from, rule). Faults, as ``SmtpFaults``' calls: ``fail_next`` (count, code,
stage, message), ``error_rate`` (probability, code, stage, message), ``outage`` (seconds,
start_in, code, message), ``drop_during_data`` (count), and ``clear``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Router

from sim.control import ControlError, Entry, FakeControl, Rule, by_time, control_router, decode, iso
from sim.smtp.faults import SmtpFaultRule, Stage

if TYPE_CHECKING:
    from sim.smtp.fake import SmtpFake

__all__ = ["smtp_control"]


class FailNextIn(Rule, tag="fail_next"):
    count: int = 1
    code: int = 451
    stage: Stage = "RCPT"
    message: str | None = None


class ErrorRateIn(Rule, tag="error_rate"):
    probability: float
    code: int = 451
    stage: Stage = "RCPT"
    message: str | None = None


class OutageIn(Rule, tag="outage"):
    seconds: float | None = None
    start_in: float = 0.0
    code: int = 421
    message: str | None = None


class DropDuringDataIn(Rule, tag="drop_during_data"):
    count: int = 1


class ClearIn(Rule, tag="clear"):
    pass


SmtpFaultIn = FailNextIn | ErrorRateIn | OutageIn | DropDuringDataIn | ClearIn


def rule_out(rule: SmtpFaultRule) -> Entry:
    return {"kind": rule.label or rule.kind, "stage": rule.stage, "code": rule.code,
            "reply": rule.reply if rule.kind == "reply" else None, "remaining": rule.remaining,
            "probability": rule.probability, "starts_at": iso(rule.starts_at), "ends_at": iso(rule.ends_at)}


def smtp_control(fake: SmtpFake) -> Router:
    def journal() -> list[Entry]:
        # within one instant: refusals, then logins, then captured mail (a retry follows its refusal)
        entries: list[tuple[float, Entry]] = [
            (f.at, {"at": iso(f.at), "kind": "fault", "stage": f.stage, "code": f.code, "reply": f.reply,
                    "peer": f"{f.peer[0]}:{f.peer[1]}" if f.peer else None, "mail_from": f.mail_from,
                    "rule": f.rule_label}) for f in fake.faults.journal
        ]
        entries += [(login.at.timestamp(), {"at": iso(login.at), "kind": "login", "mechanism": login.mechanism,
                                            "username": login.username}) for login in fake.logins]
        entries += [
            (m.received_at.timestamp(), {"at": iso(m.received_at), "kind": "message", "id": m.id,
                                         "mail_from": m.mail_from, "rcpt_to": list(m.rcpt_tos),
                                         "subject": m.subject})
            for m in fake.messages()
        ]
        return by_time(entries)

    def faults() -> dict[str, Any]:
        return {"rules": [rule_out(rule) for rule in fake.faults.rules],
                "injected": [{"at": iso(f.at), "stage": f.stage, "code": f.code, "reply": f.reply,
                              "rule": f.rule_label} for f in fake.faults.journal]}

    async def apply_fault(raw: bytes) -> None:
        rule: Any = decode(raw, SmtpFaultIn)
        try:
            if isinstance(rule, FailNextIn):
                fake.faults.fail_next(rule.count, code=rule.code, message=rule.message, stage=rule.stage)
            elif isinstance(rule, ErrorRateIn):
                fake.faults.error_rate(rule.probability, code=rule.code, message=rule.message, stage=rule.stage)
            elif isinstance(rule, OutageIn):
                fake.faults.outage(rule.seconds, start_in=rule.start_in, code=rule.code, message=rule.message)
            elif isinstance(rule, DropDuringDataIn):
                fake.faults.drop_during_data(rule.count)
            else:
                fake.faults.clear()
        except ValueError as exc:
            raise ControlError(str(exc)) from None

    return control_router(FakeControl("smtp", journal=journal, reset=fake.reset, faults=faults, clock=fake.clock,
                                      apply_fault=apply_fault))
