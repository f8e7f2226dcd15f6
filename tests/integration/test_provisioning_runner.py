"""The provisioning runner against a real PostgreSQL, with Keycloak and SMTP faked in-process:
steps run side by side and each is recorded on its own, a failed step is retried without redoing
the ones that succeeded, a step another runner holds is not run twice, suspension wins."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, cast

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.customers.domain import ActivityStatus, CustomerType, KycLevel, KycStatus, VerificationStatus
from service.customers.repository import customer_state, insert_customer, store_state
from service.db.engine import create_engine, session_factory
from service.db.models import CustomerRecord, KycCallbackRecord, OutboxRecord, ProvisioningStepRecord
from service.kyc.domain import KycFacts
from service.kyc.jobs import process_kyc_callback
from service.kyc.processing import process_callbacks
from service.ledger.repository import deposit_account
from service.outbox import write_event
from service.provisioning import actions
from service.provisioning.directory import CustomerDirectory, CustomerLogin
from service.provisioning.plan import Step, StepStatus
from service.provisioning.runner import StepsBusy, StepsFailed, provision
from service.provisioning.steps import step_states, want
from service.settings import Settings
from service.worker_context import WorkerResources
from tests.support.databases import scratch_database

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def sessions() -> AsyncIterator[Sessions]:
    """A database of this module's own: no worker of another test relays these events meanwhile."""
    async with scratch_database("runner") as url:
        engine = create_engine(url, 4)
        yield session_factory(engine)
        await engine.dispose()


class FakeDirectory:
    """Records what provisioning asked of Keycloak."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.made_with_password: list[str] = []  # the temporary passwords logins were made with
        self.disabled: list[str] = []
        self.passwords: list[str] = []

    async def ensure_login(self, customer_id: str, email: str, *,
                           temporary_password: str | None = None) -> CustomerLogin:
        self.made.append(customer_id)
        if temporary_password is not None:
            self.made_with_password.append(temporary_password)
        return CustomerLogin(f"user-{customer_id}", email, created=True, password_set=temporary_password is not None)

    async def set_temporary_password(self, user_id: str, password: str) -> None:
        self.passwords.append(user_id)

    async def disable_login(self, customer_id: str) -> str | None:
        self.disabled.append(customer_id)
        return f"user-{customer_id}" if customer_id in self.made else None

    async def aclose(self) -> None:
        pass


class FakeMail:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[EmailMessage] = []

    async def __call__(self, settings: Settings, message: EmailMessage) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("451 try again later")
        self.sent.append(message)


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> FakeMail:
    fake = FakeMail()
    monkeypatch.setattr(actions, "send_email", fake)
    return fake


@pytest.fixture
def resources(sessions: Sessions, settings: Settings, directory: FakeDirectory) -> WorkerResources:
    return WorkerResources(settings=settings, sessions=sessions, queue=cast(Any, None),
                           directory=cast(CustomerDirectory, directory))


APPROVED = KycFacts(kyc_status=KycStatus.APPROVED, verification_status=VerificationStatus.VERIFIED,
                    kyc_level=KycLevel.BASIC)


async def approved_customer(sessions: Sessions) -> tuple[uuid.UUID, int]:
    """A customer approved by KYC, and the id of the event that says so."""
    async with sessions.begin() as session:
        record = await insert_customer(session, email=f"runner.{uuid.uuid4().hex[:10]}@example.com",
                                       customer_type=CustomerType.PRIVATE_COMPANY, telegram_id=None)
        after, events = customer_state(record).apply_kyc(APPROVED)
        store_state(record, after)
        for event in events:
            await write_event(session, event)
    return record.id, await newest_event(sessions, record.id)


async def newest_event(sessions: Sessions, customer_id: uuid.UUID) -> int:
    async with sessions() as session:
        newest = await session.scalar(select(func.max(OutboxRecord.id)).where(OutboxRecord.customer_id == customer_id))
    assert newest is not None
    return int(newest)


def emailed_text(message: EmailMessage) -> str:
    return "\n".join(str(part.get_payload(decode=True), "ascii") for part in message.walk()
                     if part.get_content_type() == "text/plain")


async def states(sessions: Sessions, customer_id: uuid.UUID) -> dict[Step, StepStatus]:
    async with sessions() as session:
        return await step_states(session, customer_id)


async def customer(sessions: Sessions, customer_id: uuid.UUID) -> CustomerRecord:
    async with sessions() as session:
        record = await session.get(CustomerRecord, customer_id)
    assert record is not None
    return record


async def test_one_run_makes_the_login_the_email_and_the_account_and_activates(
        sessions: Sessions, resources: WorkerResources, directory: FakeDirectory, mail: FakeMail) -> None:
    customer_id, outbox_id = await approved_customer(sessions)
    run = await provision(resources, outbox_id=outbox_id)
    assert run.events_handled == 1
    assert run.ended == {"keycloak_user": "done", "deposit_account": "done", "welcome_email": "done"}
    assert await states(sessions, customer_id) == dict.fromkeys(
        (Step.KEYCLOAK_USER, Step.DEPOSIT_ACCOUNT, Step.WELCOME_EMAIL), StepStatus.DONE)
    shown = await customer(sessions, customer_id)
    assert (shown.activity_status, shown.keycloak_user_id) == ("active", f"user-{customer_id}")
    # the login was made with its temporary password, and the email of the same run sends that one:
    # no second call to Keycloak to set it
    [password] = directory.made_with_password
    assert directory.passwords == []
    [sent] = mail.sent
    assert f"Temporary password: {password}" in emailed_text(sent)
    async with sessions() as session:
        assert (await deposit_account(session, customer_id)).account_set == "deposit-private-company-account-set"


async def test_a_failed_step_is_retried_without_redoing_the_ones_that_succeeded(
        sessions: Sessions, resources: WorkerResources, directory: FakeDirectory, mail: FakeMail) -> None:
    mail.failures = 1
    customer_id, outbox_id = await approved_customer(sessions)
    with pytest.raises(StepsFailed, match="welcome_email"):
        await provision(resources, outbox_id=outbox_id)
    assert (await states(sessions, customer_id))[Step.WELCOME_EMAIL] is StepStatus.PENDING
    assert (await customer(sessions, customer_id)).activity_status == "inactive"

    again = await provision(resources, outbox_id=outbox_id)  # the queue's retry of the same job
    assert again.events_handled == 0
    assert again.ended == {"welcome_email": "done"}
    assert directory.made == [str(customer_id)]
    # the password the login was made with went nowhere: the retry sets a new one, and sends it
    assert directory.passwords == [f"user-{customer_id}"]
    [sent] = mail.sent
    assert directory.made_with_password[0] not in emailed_text(sent)
    async with sessions() as session:
        email_step = await session.get(ProvisioningStepRecord, (customer_id, Step.WELCOME_EMAIL.value))
    assert email_step is not None
    assert (email_step.attempts, email_step.last_error) == (2, None)
    assert (await customer(sessions, customer_id)).activity_status == "active"


async def test_the_last_attempt_marks_a_failing_step_failed(
        sessions: Sessions, resources: WorkerResources, mail: FakeMail) -> None:
    mail.failures = 1
    customer_id, outbox_id = await approved_customer(sessions)
    with pytest.raises(StepsFailed):
        await provision(resources, outbox_id=outbox_id, final=True)
    assert (await states(sessions, customer_id))[Step.WELCOME_EMAIL] is StepStatus.FAILED


async def test_a_step_held_by_another_runner_is_left_to_it(
        sessions: Sessions, resources: WorkerResources, directory: FakeDirectory, mail: FakeMail) -> None:
    customer_id, outbox_id = await approved_customer(sessions)
    async with sessions.begin() as session:  # as if another worker were making the login right now
        await want(session, customer_id, [Step.KEYCLOAK_USER])
        await session.execute(update(ProvisioningStepRecord)
                              .where(ProvisioningStepRecord.customer_id == customer_id)
                              .values(claimed_until=datetime(2999, 1, 1, tzinfo=UTC)))
    with pytest.raises(StepsBusy):
        await provision(resources, outbox_id=outbox_id)
    assert directory.made == []
    assert (await states(sessions, customer_id))[Step.DEPOSIT_ACCOUNT] is StepStatus.DONE
    assert mail.sent == []


async def test_a_step_under_way_stays_its_runners_however_far_scenario_time_moves_on(
        sessions: Sessions, resources: WorkerResources, directory: FakeDirectory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the sandbox's virtual clock may move on by an hour while a job runs (a scenario's advance_clock):
    # the email step the first run is sending must not be handed to a re-drive's run meanwhile
    entered, release = asyncio.Event(), asyncio.Event()
    sent: list[EmailMessage] = []

    async def slow_mail(settings: Settings, message: EmailMessage) -> None:
        sent.append(message)
        if len(sent) == 1:  # the first run's email is under way until released
            entered.set()
            await release.wait()

    monkeypatch.setattr(actions, "send_email", slow_mail)
    customer_id, outbox_id = await approved_customer(sessions)
    first = asyncio.create_task(provision(resources, outbox_id=outbox_id))
    try:
        await asyncio.wait_for(entered.wait(), 10)
        an_hour_later = datetime.now(UTC) + timedelta(hours=2)
        remove = clock.use_clock(lambda: an_hour_later)
        try:
            with pytest.raises(StepsBusy):
                await provision(resources, customer_id=customer_id)  # the re-drive's run
        finally:
            remove()
        release.set()
        assert (await asyncio.wait_for(first, 10)).ended["welcome_email"] == "done"
    finally:
        release.set()
        first.cancel()
    assert len(sent) == 1


async def test_a_suspended_customer_gets_no_login_and_no_email_but_a_frozen_account(
        sessions: Sessions, resources: WorkerResources, directory: FakeDirectory, mail: FakeMail) -> None:
    customer_id, _ = await approved_customer(sessions)
    async with sessions.begin() as session:
        record = await session.get(CustomerRecord, customer_id)
        assert record is not None
        after, events = customer_state(record).suspend()
        store_state(record, after)
        for event in events:
            await write_event(session, event)
    run = await provision(resources, outbox_id=await newest_event(sessions, customer_id))
    assert run.events_handled == 2
    assert run.ended["keycloak_user"] == "skipped"
    assert "welcome_email" not in run.ended
    assert directory.made == []
    assert mail.sent == []
    async with sessions() as session:
        assert (await deposit_account(session, customer_id)).status.value == "frozen"
    assert (await customer(sessions, customer_id)).activity_status == ActivityStatus.SUSPENDED.value



# the KYC fold hands its events straight to the runner, in the same job
class RetriedJob:
    """What a KYC job sees of SAQ's job: which attempt this is, and whether another is allowed."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self.retryable = True


async def green_callback_of_a_customer_with_a_link(sessions: Sessions) -> tuple[uuid.UUID, int]:
    async with sessions.begin() as session:
        record = await insert_customer(session, email=f"handover.{uuid.uuid4().hex[:10]}@example.com",
                                       customer_type=CustomerType.INDIVIDUAL, telegram_id=None)
        record.kyc_status = KycStatus.PENDING.value
        record.applicant_id = f"app-{uuid.uuid4().hex[:12]}"
        record.kyc_started_at = datetime.now(UTC)
        payload = {"type": "applicantReviewed", "externalUserId": str(record.id), "applicantId": record.applicant_id,
                   "correlationId": uuid.uuid4().hex, "createdAtMs": "2026-11-25 10:00:00.000",
                   "levelName": "basic-kyc-level", "reviewStatus": "completed",
                   "reviewResult": {"reviewAnswer": "GREEN"}}
        callback = KycCallbackRecord(idempotency_key=f"handover:{uuid.uuid4()}", type=payload["type"],
                                     external_user_id=str(record.id), applicant_id=record.applicant_id,
                                     payload=payload)
        session.add(callback)
        await session.flush()
        return record.id, callback.id


async def outbox_rows(sessions: Sessions, customer_id: uuid.UUID) -> list[OutboxRecord]:
    async with sessions() as session:
        return list((await session.scalars(select(OutboxRecord).where(OutboxRecord.customer_id == customer_id))).all())


async def test_the_fold_that_approves_provisions_in_the_same_job_with_nothing_queued(
        sessions: Sessions, resources: WorkerResources, directory: FakeDirectory, mail: FakeMail) -> None:
    customer_id, callback_id = await green_callback_of_a_customer_with_a_link(sessions)
    # the resources' queue is None: anything enqueued would fail the job
    result = await process_kyc_callback({"resources": resources}, callback_id=callback_id)
    assert result["changed"] is True
    assert result["steps"] == {"keycloak_user": "done", "deposit_account": "done", "welcome_email": "done"}
    assert (await customer(sessions, customer_id)).activity_status == "active"
    [event] = await outbox_rows(sessions, customer_id)
    # handed over: marked relayed as it was written (the relay leaves it alone) and handled by this job
    assert event.relayed_at is not None
    assert event.handled_at is not None
    assert directory.made == [str(customer_id)]
    assert len(mail.sent) == 1


async def test_a_fold_whose_provisioning_failed_takes_it_up_again_on_its_retry(
        sessions: Sessions, resources: WorkerResources, directory: FakeDirectory, mail: FakeMail) -> None:
    mail.failures = 1
    customer_id, callback_id = await green_callback_of_a_customer_with_a_link(sessions)
    with pytest.raises(StepsFailed, match="welcome_email"):
        await process_kyc_callback({"resources": resources, "job": RetriedJob(1)}, callback_id=callback_id)
    assert (await customer(sessions, customer_id)).kyc_status == "approved"  # the fold itself is kept
    assert (await customer(sessions, customer_id)).activity_status == "inactive"

    again = await process_kyc_callback({"resources": resources, "job": RetriedJob(2)}, callback_id=callback_id)
    assert (again["processed"], again["changed"]) == (0, False)  # nothing new to fold
    assert again["steps"] == {"welcome_email": "done"}
    assert (await customer(sessions, customer_id)).activity_status == "active"
    assert directory.made == [str(customer_id)]
    assert len(mail.sent) == 1
    assert len(await outbox_rows(sessions, customer_id)) == 1


async def test_the_fold_claims_the_steps_its_events_ask_for_in_its_own_transaction(
        sessions: Sessions, settings: Settings, directory: FakeDirectory, mail: FakeMail) -> None:
    customer_id, callback_id = await green_callback_of_a_customer_with_a_link(sessions)
    result = await process_callbacks(sessions, settings, callback_id, hand_over=True)
    # committed with the fold, before anything ran: the event handled, its steps wanted and claimed
    assert result.provisioning is not None
    assert result.provisioning.claimed == sorted([Step.DEPOSIT_ACCOUNT, Step.KEYCLOAK_USER])
    [event] = await outbox_rows(sessions, customer_id)
    assert event.handled_at is not None
    async with sessions() as session:
        steps = (await session.scalars(select(ProvisioningStepRecord)
                                       .where(ProvisioningStepRecord.customer_id == customer_id))).all()
    assert {(s.step, s.status, s.claimed_until is not None) for s in steps} == {
        ("keycloak_user", "pending", True), ("deposit_account", "pending", True)}
    assert directory.made == []
    assert mail.sent == []


async def test_one_customers_failed_step_does_not_keep_another_of_the_same_job_waiting(
        sessions: Sessions, resources: WorkerResources, directory: FakeDirectory, mail: FakeMail) -> None:
    mail.failures = 1  # the first welcome email sent, the trigger's customer's
    first, first_callback = await green_callback_of_a_customer_with_a_link(sessions)
    second, second_callback = await green_callback_of_a_customer_with_a_link(sessions)
    with pytest.raises(StepsFailed, match="welcome_email"):
        await process_kyc_callback({"resources": resources, "job": RetriedJob(1)}, callback_id=first_callback,
                                   earlier=[second_callback])
    assert (await customer(sessions, first)).activity_status == "inactive"  # left to the job's retry
    assert (await customer(sessions, second)).activity_status == "active"
