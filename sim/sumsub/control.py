"""The Sumsub fake's ``/__admin/`` API (see ``sim.control``), unsigned: what a person with curl needs
to drive an applicant through its review without signing anything by hand.

    GET  /__admin/applicants                              {"applicants": [applicant as GET .../one answers]}
    POST /__admin/applicants/{applicantId}/submit         the customer submitted documents
    POST /__admin/applicants/{applicantId}/review         {"answer": "GREEN"} or {"answer": "RED",
                                                           "rejectType": "RETRY"|"FINAL", "labels": [...],
                                                           "moderationComment": ..., "clientComment": ...}
    POST /__admin/applicants/{applicantId}/on-hold        the review is put on hold
      each answers {"event": <the webhook payload>, "deliveries": ["wh-000001", ...]}
      (404 for an unknown applicant, 409 for a step its state does not allow, 400 for a bad body)

Journal entries, oldest first: ``request`` (the REST API: method, path, status, body), ``event`` (a
webhook the lifecycle produced: type, applicant_id, external_user_id, correlation_id, created_at_ms),
``webhook`` (one delivery attempt as the sender saw it: delivery_id, attempt, event_type,
applicant_id, status, error, settled_at, next_retry_at, payload) and ``network`` (what the network
did to an attempt: action, message_id, delivery_id, attempt, event_type, copy, status, error, rule).

Faults: the REST API's (``sim.faults.HttpFaults`` kinds) and the webhook network's, each a
``sim.network.WebhookNetwork`` call: ``duplicate`` (copies, spacing), ``delay`` (seconds, jitter),
``hold``, ``drop``, ``lose_ack``, each with ``match`` ({event_type, applicant_id, external_user_id,
attempt}), ``count`` (null: every match) and ``probability``; ``release`` (order: "as_sent",
"reversed", "random" or positions; keep_holding) lets held messages go; ``clear`` clears both.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath

from sim.control import (
    ClearIn,
    ControlError,
    Entry,
    FakeControl,
    HttpFaultIn,
    Rule,
    apply_http_fault,
    by_time,
    control_app,
    decode,
    http_faults_view,
    iso,
)
from sim.network import Match, NetworkRecord, NetworkRule, WebhookNetwork
from sim.sumsub.applicants import ApplicantNotFound, TransitionNotAllowed
from sim.sumsub.events import WebhookEvent
from sim.sumsub.webhooks import DeliveryAttempt

if TYPE_CHECKING:
    from sim.sumsub.fake import SumsubFake

__all__ = ["sumsub_control"]


# the webhook network's rules, as JSON

class MatchIn(msgspec.Struct, forbid_unknown_fields=True):
    event_type: str | list[str] | None = None
    applicant_id: str | None = None
    external_user_id: str | None = None
    attempt: int | None = None

    def to_match(self) -> Match:
        return Match(self.event_type, self.applicant_id, self.external_user_id, self.attempt)


class DuplicateIn(Rule, tag="duplicate"):
    copies: int = 1
    match: MatchIn | None = None
    count: int | None = 1
    spacing: float = 0.0
    probability: float = 1.0


class DelayIn(Rule, tag="delay"):
    seconds: float
    match: MatchIn | None = None
    count: int | None = 1
    jitter: float = 0.0
    probability: float = 1.0


class HoldIn(Rule, tag="hold"):
    match: MatchIn | None = None
    count: int | None = None


class DropIn(Rule, tag="drop"):
    match: MatchIn | None = None
    count: int | None = 1
    probability: float = 1.0


class LoseAckIn(Rule, tag="lose_ack"):
    match: MatchIn | None = None
    count: int | None = 1
    probability: float = 1.0


class ReleaseIn(Rule, tag="release"):
    order: Literal["as_sent", "reversed", "random"] | list[int] = "as_sent"
    keep_holding: bool = False


SumsubFaultIn = HttpFaultIn | DuplicateIn | DelayIn | HoldIn | DropIn | LoseAckIn | ReleaseIn


async def apply_network_rule(network: WebhookNetwork, rule: Any) -> None:
    match = rule.match.to_match() if getattr(rule, "match", None) is not None else None
    if isinstance(rule, DuplicateIn):
        network.duplicate(rule.copies, match=match, count=rule.count, spacing=rule.spacing,
                          probability=rule.probability)
    elif isinstance(rule, DelayIn):
        network.delay(rule.seconds, match=match, count=rule.count, jitter=rule.jitter, probability=rule.probability)
    elif isinstance(rule, HoldIn):
        network.hold(match=match, count=rule.count)
    elif isinstance(rule, DropIn):
        network.drop(match=match, count=rule.count, probability=rule.probability)
    elif isinstance(rule, LoseAckIn):
        network.lose_ack(match=match, count=rule.count, probability=rule.probability)
    elif isinstance(rule, ReleaseIn):
        await network.release(rule.order, keep_holding=rule.keep_holding)


def network_rule_out(rule: NetworkRule) -> Entry:
    return {"kind": rule.kind, "label": rule.label, "remaining": rule.remaining, "probability": rule.probability,
            "copies": rule.copies, "spacing": rule.spacing, "seconds": rule.seconds, "jitter": rule.jitter,
            "active": rule.active}


# the journal

def _json_or_text(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def event_out(event: WebhookEvent) -> Entry:
    return {"at": iso(event.created_at), "kind": "event", "type": event.type, "applicant_id": event.applicant_id,
            "external_user_id": event.external_user_id, "correlation_id": event.correlation_id,
            "created_at_ms": event.created_at_ms}


def attempt_out(attempt: DeliveryAttempt) -> Entry:
    return {"at": iso(attempt.sent_at), "kind": "webhook", "delivery_id": attempt.delivery_id,
            "attempt": attempt.attempt, "event_type": attempt.event_type, "applicant_id": attempt.applicant_id,
            "status": attempt.status, "error": attempt.error, "settled_at": iso(attempt.settled_at),
            "next_retry_at": iso(attempt.next_retry_at), "payload": _json_or_text(attempt.payload)}


def network_out(record: NetworkRecord) -> Entry:
    return {"at": iso(record.at), "kind": "network", "action": record.action, "message_id": record.message_id,
            "delivery_id": record.delivery_id, "attempt": record.attempt, "event_type": record.event_type,
            "applicant_id": record.applicant_id, "copy": record.copy, "status": record.status,
            "error": record.error, "rule": record.rule, "detail": record.detail}


# driving an applicant

class ReviewIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    answer: Literal["GREEN", "RED"]
    reject_type: Literal["RETRY", "FINAL"] | None = None
    labels: list[str] = msgspec.field(default_factory=list)
    moderation_comment: str | None = None
    client_comment: str | None = None


def _not_found(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    return Response({"error": str(exc)}, status_code=404)


def _conflict(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    return Response({"error": str(exc)}, status_code=409)


def sumsub_control(fake: SumsubFake) -> Litestar:
    def sent(event: WebhookEvent) -> dict[str, Any]:
        return {"event": dict(event.payload), "deliveries": [d.id for d in fake.deliveries_for(event)]}

    @get("/applicants", sync_to_thread=False)
    def applicants() -> dict[str, Any]:
        now = fake.clock.time()
        return {"applicants": [applicant.to_payload(now) for applicant in fake.applicants]}

    @post("/applicants/{applicant_id:str}/submit", status_code=200, sync_to_thread=False)
    def submit(applicant_id: FromPath[str]) -> dict[str, Any]:
        return sent(fake.submit_documents(applicant_id))

    @post("/applicants/{applicant_id:str}/review", status_code=200)
    async def review(applicant_id: FromPath[str], request: Request[Any, Any, Any]) -> dict[str, Any]:
        body: ReviewIn = decode(await request.body(), ReviewIn)
        try:
            return sent(fake.review(applicant_id, body.answer, labels=body.labels, reject_type=body.reject_type,
                                    moderation_comment=body.moderation_comment,
                                    client_comment=body.client_comment))
        except ValueError as exc:  # a GREEN with labels, a RED without any
            raise ControlError(str(exc)) from None

    @post("/applicants/{applicant_id:str}/on-hold", status_code=200, sync_to_thread=False)
    def on_hold(applicant_id: FromPath[str]) -> dict[str, Any]:
        return sent(fake.put_on_hold(applicant_id))

    def journal() -> list[Entry]:
        entries: list[tuple[float, Entry]] = [
            (request.at, {"at": iso(request.at), "kind": "request", "method": request.method, "path": request.path,
                          "status": request.status, "body": _json_or_text(request.body)})
            for request in fake.requests
        ]
        entries += [(event.created_at, event_out(event)) for event in fake.events]
        entries += [(attempt.sent_at, attempt_out(attempt)) for attempt in fake.webhooks.journal]
        entries += [(record.at, network_out(record)) for record in fake.network.journal]
        return by_time(entries)

    def reset() -> None:
        fake.reset()
        fake.network.reset()  # its rules and journal show here, so they go with the rest

    def faults() -> dict[str, Any]:
        held = [{"message_id": h.message.id, "delivery_id": h.message.delivery_id, "attempt": h.message.attempt,
                 "event_type": h.message.event_type, "applicant_id": h.message.applicant_id,
                 "external_user_id": h.message.external_user_id, "held_at": iso(h.held_at)}
                for h in fake.network.held]
        return {**http_faults_view(fake.faults),
                "network": {"rules": [network_rule_out(rule) for rule in fake.network.rules], "held": held}}

    async def apply_fault(raw: bytes) -> None:
        rule: Any = decode(raw, SumsubFaultIn)
        if isinstance(rule, ClearIn):
            fake.network.clear()
        if not apply_http_fault(fake.faults, rule):
            try:
                await apply_network_rule(fake.network, rule)
            except ValueError as exc:
                raise ControlError(str(exc)) from None

    return control_app(
        FakeControl("sumsub", journal=journal, reset=reset, faults=faults, apply_fault=apply_fault, clock=fake.clock),
        extra=[applicants, submit, review, on_hold],
        exception_handlers={ApplicantNotFound: _not_found, TransitionNotAllowed: _conflict},
    )
