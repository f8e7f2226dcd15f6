"""The provisioning actions: each makes one change outside or inside the service, safe to repeat.

An action answers with an :class:`Outcome` (done, with a reference to what it made, or skipped) or
raises, and is then retried. Actions on Keycloak and SMTP run outside any transaction; actions on
the ledger run inside the transaction that records their step (``in_transaction``), under the
customer's row lock, so a suspension is either before them or after them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.customers.domain import ActivityStatus, CustomerType
from service.db.models import CustomerRecord
from service.ledger.domain import AccountNotFound
from service.ledger.repository import freeze_deposit_account, open_deposit_account
from service.provisioning.directory import CustomerDirectory, DirectoryError
from service.provisioning.plan import Step, StepStatus
from service.provisioning.welcome_email import compose_welcome_email, new_temporary_password, send_email
from service.worker_context import WorkerResources

__all__ = ["ACTIONS", "Action", "ActionContext", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    status: StepStatus
    external_ref: str | None = None
    # the customer's Keycloak user, when this action made or found it
    keycloak_user_id: str | None = None

    @classmethod
    def done(cls, external_ref: str | None = None, *, keycloak_user_id: str | None = None) -> Outcome:
        return cls(StepStatus.DONE, external_ref, keycloak_user_id)

    @classmethod
    def skipped(cls) -> Outcome:
        return cls(StepStatus.SKIPPED)


@dataclass(frozen=True)
class ActionContext:
    resources: WorkerResources
    customer_id: uuid.UUID
    email: str
    customer_type: CustomerType
    # the runner's transaction, for actions run in it; None for the others
    session: AsyncSession | None = None

    @property
    def directory(self) -> CustomerDirectory:
        if self.resources.directory is None:
            raise DirectoryError("no Keycloak service account: set KEYCLOAK_CLIENT_ID and KEYCLOAK_CLIENT_SECRET")
        return self.resources.directory

    def in_transaction(self) -> AsyncSession:
        assert self.session is not None, "a ledger action runs in the runner's transaction"
        return self.session

    async def suspended(self) -> bool:
        """Read now, not at the job's start: a suspension may have been committed meanwhile."""
        async with self.resources.sessions() as session:
            status = await session.scalar(select(CustomerRecord.activity_status)
                                          .where(CustomerRecord.id == self.customer_id))
        return status == ActivityStatus.SUSPENDED.value


@dataclass(frozen=True)
class Action:
    run: Callable[[ActionContext], Awaitable[Outcome]]
    in_transaction: bool = False


async def _keycloak_user(step: ActionContext) -> Outcome:
    if await step.suspended():
        return Outcome.skipped()
    login = await step.directory.ensure_login(str(step.customer_id), step.email)
    if await step.suspended():
        # suspended while the user was being made: the disable step may have found no user to disable
        await step.directory.disable_login(str(step.customer_id))
    return Outcome.done(login.user_id, keycloak_user_id=login.user_id)


async def _welcome_email(step: ActionContext) -> Outcome:
    async with step.resources.sessions() as session:
        customer = await session.get(CustomerRecord, step.customer_id)
    if customer is None or customer.activity_status == ActivityStatus.SUSPENDED.value:
        return Outcome.skipped()  # no credentials for a customer who may not log in
    if not customer.keycloak_user_id:
        raise RuntimeError("the customer's Keycloak user is not made yet")
    password = new_temporary_password()
    await step.directory.set_temporary_password(customer.keycloak_user_id, password)
    settings = step.resources.settings
    message = compose_welcome_email(sender=settings.smtp_sender, to=step.email, username=step.email,
                                    password=password, portal_url=settings.portal_url)
    await send_email(settings, message)
    return Outcome.done(str(message["Message-ID"]))


async def _deposit_account(step: ActionContext) -> Outcome:
    # in the runner's transaction, under the customer's lock: a suspension is either before (the account
    # opens frozen) or after (and the freeze step finds the account)
    session = step.in_transaction()
    account = await open_deposit_account(session, step.customer_id, step.customer_type)
    status = await session.scalar(select(CustomerRecord.activity_status).where(CustomerRecord.id == step.customer_id))
    if status == ActivityStatus.SUSPENDED.value:
        await freeze_deposit_account(session, step.customer_id)
    return Outcome.done(str(account.id))


async def _keycloak_disabled(step: ActionContext) -> Outcome:
    return Outcome.done(await step.directory.disable_login(str(step.customer_id)))


async def _deposit_frozen(step: ActionContext) -> Outcome:
    try:
        await freeze_deposit_account(step.in_transaction(), step.customer_id)
    except AccountNotFound:
        return Outcome.done()  # nothing to freeze yet: the account step opens it frozen
    return Outcome.done("frozen")


ACTIONS: Mapping[Step, Action] = {
    Step.KEYCLOAK_USER: Action(_keycloak_user),
    Step.WELCOME_EMAIL: Action(_welcome_email),
    Step.DEPOSIT_ACCOUNT: Action(_deposit_account, in_transaction=True),
    Step.KEYCLOAK_DISABLED: Action(_keycloak_disabled),
    Step.DEPOSIT_FROZEN: Action(_deposit_frozen, in_transaction=True),
}
