"""The provisioning actions: each makes one change outside or inside the service, safe to repeat.

An action answers with an :class:`Outcome` (done, with a reference to what it made, or skipped) or
raises, and is then retried. Actions on Keycloak and SMTP run outside any transaction; actions on
the ledger run inside the transaction that records their step (``in_transaction``), under the
customer's row lock, so a suspension is either before them or after them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from service.customers.domain import CustomerType
from service.ledger.domain import AccountNotFound
from service.ledger.repository import ensure_deposit_account, freeze_deposit_account
from service.provisioning.directory import CustomerDirectory, DirectoryError
from service.provisioning.plan import Step, StepStatus
from service.provisioning.welcome_email import compose_welcome_email, new_temporary_password, send_email
from service.worker_context import WorkerResources

__all__ = ["ACTIONS", "Action", "ActionContext", "CustomerSnapshot", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    status: StepStatus
    external_ref: str | None = None
    # the customer's Keycloak user, when this action made or found it
    keycloak_user_id: str | None = None
    # the temporary password the user was made with, for the welcome email that follows in the same run;
    # held in memory only (never recorded, never shown)
    temporary_password: str | None = field(default=None, repr=False)

    @classmethod
    def done(cls, external_ref: str | None = None, *, keycloak_user_id: str | None = None,
             temporary_password: str | None = None) -> Outcome:
        return cls(StepStatus.DONE, external_ref, keycloak_user_id, temporary_password)

    @classmethod
    def skipped(cls) -> Outcome:
        return cls(StepStatus.SKIPPED)


@dataclass(frozen=True)
class CustomerSnapshot:
    """The customer as the runner read it under the row lock, just before claiming the step."""

    id: uuid.UUID
    email: str
    customer_type: CustomerType
    suspended: bool
    keycloak_user_id: str | None
    # set by the Keycloak step that made the login with it, for the welcome email in the same run
    temporary_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ActionContext:
    resources: WorkerResources
    customer: CustomerSnapshot
    # the runner's transaction, for actions run in it; None for the others
    session: AsyncSession | None = None

    @property
    def customer_id(self) -> uuid.UUID:
        return self.customer.id

    @property
    def directory(self) -> CustomerDirectory:
        if self.resources.directory is None:
            raise DirectoryError("no Keycloak service account: set KEYCLOAK_CLIENT_ID and KEYCLOAK_CLIENT_SECRET")
        return self.resources.directory

    def in_transaction(self) -> AsyncSession:
        assert self.session is not None, "a ledger action runs in the runner's transaction"
        return self.session


@dataclass(frozen=True)
class Action:
    run: Callable[[ActionContext], Awaitable[Outcome]]
    in_transaction: bool = False


async def _keycloak_user(step: ActionContext) -> Outcome:
    # a suspension committed while the user is being made is seen when the step is recorded, under the
    # customer's lock, and the runner then disables the login
    if step.customer.suspended:
        return Outcome.skipped()
    # a login made now gets its temporary password in the same request: the welcome email that follows
    # in this run sends it without a second call to Keycloak
    password = new_temporary_password()
    login = await step.directory.ensure_login(str(step.customer_id), step.customer.email,
                                              temporary_password=password)
    return Outcome.done(login.user_id, keycloak_user_id=login.user_id,
                        temporary_password=password if login.password_set else None)


async def _welcome_email(step: ActionContext) -> Outcome:
    if step.customer.suspended:
        return Outcome.skipped()  # no credentials for a customer who may not log in
    if not step.customer.keycloak_user_id:
        raise RuntimeError("the customer's Keycloak user is not made yet")
    password = step.customer.temporary_password
    if password is None:  # a login found, not made, or this step retried in a later run: a new password
        password = new_temporary_password()
        await step.directory.set_temporary_password(step.customer.keycloak_user_id, password)
    settings = step.resources.settings
    email = step.customer.email
    message = compose_welcome_email(sender=settings.smtp_sender, to=email, username=email,
                                    password=password, portal_url=settings.portal_url)
    await send_email(settings, message)
    return Outcome.done(str(message["Message-ID"]))


async def _deposit_account(step: ActionContext) -> Outcome:
    # in the runner's transaction, under the customer's lock: a suspension is either before (the account
    # opens frozen) or after (and the freeze step finds the account)
    session = step.in_transaction()
    account_id = await ensure_deposit_account(session, step.customer_id, step.customer.customer_type)
    if step.customer.suspended:
        await freeze_deposit_account(session, step.customer_id)
    return Outcome.done(str(account_id))


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
