"""The one-round-trip statements of provisioning against a real PostgreSQL: a follow-up is wanted
and claimed at once but never taken from another runner nor run again once done; a step's end
answers the customer's steps as they then stand; a deposit account opened twice is one account."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar

from service.customers.domain import CustomerType
from service.customers.repository import insert_customer
from service.ledger.repository import deposit_account, ensure_deposit_account
from service.provisioning.plan import Step, StepStatus
from service.provisioning.steps import claim_unfinished, end_step, want, want_and_claim

pytestmark = pytest.mark.usefixtures("api")

NOW = datetime.now(UTC)
LEASE = NOW + timedelta(seconds=30)


async def new_customer(app: Litestar) -> uuid.UUID:
    async with app.state.sessions.begin() as session:
        record = await insert_customer(session, email=f"steps.{uuid.uuid4().hex[:10]}@example.com",
                                       customer_type=CustomerType.INDIVIDUAL, telegram_id=None)
        return record.id


async def test_a_follow_up_is_wanted_and_claimed_once_and_never_again_when_done(app: Litestar) -> None:
    customer_id = await new_customer(app)
    async with app.state.sessions.begin() as session:
        assert await want_and_claim(session, customer_id, [Step.WELCOME_EMAIL], now=NOW, until=LEASE) == [
            Step.WELCOME_EMAIL]
        # held by the first claim until the lease ends: a second runner gets nothing
        assert await want_and_claim(session, customer_id, [Step.WELCOME_EMAIL], now=NOW, until=LEASE) == []
        # once the lease has lapsed it can be claimed again
        later = LEASE + timedelta(seconds=1)
        assert await want_and_claim(session, customer_id, [Step.WELCOME_EMAIL], now=later,
                                    until=later + timedelta(seconds=30)) == [Step.WELCOME_EMAIL]
        states = await end_step(session, customer_id, Step.WELCOME_EMAIL, StepStatus.DONE, "message-id")
        assert states == {Step.WELCOME_EMAIL: StepStatus.DONE}
        assert await want_and_claim(session, customer_id, [Step.WELCOME_EMAIL], now=later + timedelta(hours=1),
                                    until=later + timedelta(hours=2)) == []


async def test_claiming_counts_the_steps_another_runner_holds_and_an_end_answers_every_step(app: Litestar) -> None:
    customer_id = await new_customer(app)
    async with app.state.sessions.begin() as session:
        await want(session, customer_id, [Step.KEYCLOAK_USER, Step.DEPOSIT_ACCOUNT])
        assert await want_and_claim(session, customer_id, [Step.WELCOME_EMAIL], now=NOW, until=LEASE) == [
            Step.WELCOME_EMAIL]
        claimed, held_elsewhere = await claim_unfinished(session, customer_id, now=NOW, until=LEASE)
        assert (claimed, held_elsewhere) == ([Step.DEPOSIT_ACCOUNT, Step.KEYCLOAK_USER], 1)
        states = await end_step(session, customer_id, Step.DEPOSIT_ACCOUNT, StepStatus.DONE, "account")
        assert states == {Step.KEYCLOAK_USER: StepStatus.PENDING, Step.WELCOME_EMAIL: StepStatus.PENDING,
                          Step.DEPOSIT_ACCOUNT: StepStatus.DONE}


async def test_a_deposit_account_opened_twice_is_one_account(app: Litestar) -> None:
    customer_id = await new_customer(app)
    async with app.state.sessions.begin() as session:
        first = await ensure_deposit_account(session, customer_id, CustomerType.INDIVIDUAL)
    async with app.state.sessions.begin() as session:
        again = await ensure_deposit_account(session, customer_id, CustomerType.INDIVIDUAL)
        account = await deposit_account(session, customer_id)
    assert first == again == account.id
