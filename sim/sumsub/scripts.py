"""Applicant lifecycles as scripts of steps on the virtual clock.

    run = sumsub.script(applicant.id, retry_then_approved())
    await clock.advance(hours=...)      # steps happen, webhooks flow, as time passes

A script is plain data (a tuple of steps), so a scenario file or a property-based test can build
one; ``Wait`` moves the script's own time forward, every other step calls the fake's Python API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.clock import Timer
from sim.sumsub.applicants import RejectType, ReviewAnswer

if TYPE_CHECKING:
    from sim.sumsub.fake import SumsubFake

__all__ = [
    "ChangePersonalInfo",
    "PutOnHold",
    "Review",
    "ScriptRun",
    "Step",
    "StepAction",
    "SubmitDocuments",
    "Wait",
    "approved",
    "on_hold_then_approved",
    "rejected_final",
    "retry_then_approved",
]


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class SubmitDocuments:
    def apply(self, sumsub: SumsubFake, applicant_id: str) -> None:
        sumsub.submit_documents(applicant_id)


@dataclass(frozen=True)
class Review:
    answer: ReviewAnswer
    labels: tuple[str, ...] = ()
    reject_type: RejectType | None = None
    moderation_comment: str | None = None
    client_comment: str | None = None

    def apply(self, sumsub: SumsubFake, applicant_id: str) -> None:
        sumsub.review(applicant_id, self.answer, labels=self.labels, reject_type=self.reject_type,
                      moderation_comment=self.moderation_comment, client_comment=self.client_comment)


@dataclass(frozen=True)
class PutOnHold:
    def apply(self, sumsub: SumsubFake, applicant_id: str) -> None:
        sumsub.put_on_hold(applicant_id)


@dataclass(frozen=True)
class ChangePersonalInfo:
    changes: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, sumsub: SumsubFake, applicant_id: str) -> None:
        sumsub.change_personal_info(applicant_id, **self.changes)


StepAction = SubmitDocuments | Review | PutOnHold | ChangePersonalInfo
Step = Wait | StepAction


@dataclass
class ScriptRun:
    applicant_id: str
    starts_at: float
    ends_at: float
    timers: list[Timer] = field(default_factory=list)
    applied: list[Step] = field(default_factory=list)

    def cancel(self) -> None:
        for timer in self.timers:
            timer.cancel()

    @property
    def finished(self) -> bool:
        return len(self.applied) == len(self.timers)


def schedule(sumsub: SumsubFake, applicant_id: str, steps: Iterable[Step], *, start_in: float = 0.0) -> ScriptRun:
    clock = sumsub.clock
    offset = start_in
    run = ScriptRun(applicant_id, clock.time() + start_in, clock.time() + start_in)
    for step in steps:
        if isinstance(step, Wait):
            if step.seconds < 0:
                raise ValueError("a script does not wait a negative time")
            offset += step.seconds
            continue

        def apply(action: StepAction = step) -> None:
            action.apply(sumsub, applicant_id)
            run.applied.append(action)

        run.timers.append(clock.call_later(offset, apply, label=f"sumsub script {applicant_id}: {step}"))
    run.ends_at = clock.time() + offset
    return run


# Lifecycles people ask for most. Times are plausible for a sandbox, not Sumsub's SLAs.
def approved(*, review_after: float = 120.0) -> tuple[Step, ...]:
    return (SubmitDocuments(), Wait(review_after), Review("GREEN"))


def rejected_final(labels: Iterable[str] = ("FORGERY",), *, review_after: float = 120.0,
                   moderation_comment: str = "We could not verify your identity.",
                   client_comment: str = "The document shows signs of forgery.") -> tuple[Step, ...]:
    return (SubmitDocuments(), Wait(review_after),
            Review("RED", tuple(labels), "FINAL", moderation_comment, client_comment))


def retry_then_approved(labels: Iterable[str] = ("UNSATISFACTORY_PHOTOS", "SCREENSHOTS"), *,
                        review_after: float = 120.0, resubmit_after: float = 3600.0,
                        moderation_comment: str = "Please upload an original photo of the document.",
                        client_comment: str = "Screenshot submitted instead of a photo.") -> tuple[Step, ...]:
    return (SubmitDocuments(), Wait(review_after),
            Review("RED", tuple(labels), "RETRY", moderation_comment, client_comment),
            Wait(resubmit_after), SubmitDocuments(), Wait(review_after), Review("GREEN"))


def on_hold_then_approved(*, hold_after: float = 60.0, hold_for: float = 4 * 3600.0) -> tuple[Step, ...]:
    return (SubmitDocuments(), Wait(hold_after), PutOnHold(), Wait(hold_for), Review("GREEN"))
