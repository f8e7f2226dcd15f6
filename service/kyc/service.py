"""The KYC application service for operators: start a customer's KYC, see the callbacks behind it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.customers import repository
from service.customers.domain import CustomerType, kyc_level_name
from service.db.engine import single_statements
from service.db.models import KycCallbackRecord
from service.kyc.domain import CallbackStatus
from service.kyc.sumsub import SumsubClient
from service.settings import Settings

__all__ = ["StartedKyc", "callbacks_by_status", "customer_callbacks", "start_kyc"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StartedKyc:
    url: str
    applicant_id: str
    level_name: str


async def start_kyc(sessions: async_sessionmaker[AsyncSession], settings: Settings,
                    sumsub_client: Callable[[], SumsubClient], reference: str) -> StartedKyc:
    """Make the Sumsub applicant if needed and a verification link; KYC is then pending.

    Raises ``KycStartRefused`` when the customer may not start KYC, ``SumsubError`` when Sumsub fails.
    Sumsub is called outside any transaction; the customer is then changed under its row lock."""
    async with single_statements(sessions) as session:
        record = await repository.find_customer(session, reference)
        customer, email = repository.customer_state(record), record.email
    refusal = customer.kyc_start_refusal()
    if refusal is not None:
        raise refusal
    sumsub = sumsub_client()  # asked for only once the customer may start KYC
    level = kyc_level_name(customer.customer_type, kyc_level=settings.sumsub_kyc_level,
                           kyb_level=settings.sumsub_kyb_level)
    external_id = str(customer.id)
    applicant_id = customer.applicant_id or (await sumsub.create_applicant(
        external_user_id=external_id, level_name=level, email=email,
        applicant_type="individual" if customer.customer_type is CustomerType.INDIVIDUAL else "company",
    )).id
    url = await sumsub.create_permalink(external_user_id=external_id, level_name=level, email=email)

    async with sessions.begin() as session:
        locked = await repository.lock_customer(session, customer.id)
        if locked is None:
            raise repository.CustomerNotFound(reference)
        started = repository.customer_state(locked).start_kyc(applicant_id, clock.now()).state
        await repository.update_state(session, started, keycloak_user_id=locked.keycloak_user_id)
    log.info("kyc.link_created", customer_id=external_id, applicant_id=applicant_id, level=level)
    return StartedKyc(url=url, applicant_id=applicant_id, level_name=level)


async def customer_callbacks(sessions: async_sessionmaker[AsyncSession], reference: str) -> list[KycCallbackRecord]:
    async with sessions() as session:
        customer = await repository.find_customer(session, reference)
        belongs = KycCallbackRecord.external_user_id == str(customer.id)
        if customer.applicant_id:
            belongs = belongs | (KycCallbackRecord.applicant_id == customer.applicant_id)
        return list((await session.scalars(select(KycCallbackRecord).where(belongs)
                                           .order_by(KycCallbackRecord.id))).all())


async def callbacks_by_status(sessions: async_sessionmaker[AsyncSession], status: CallbackStatus,
                              limit: int) -> list[KycCallbackRecord]:
    async with sessions() as session:
        return list((await session.scalars(select(KycCallbackRecord)
                                           .where(KycCallbackRecord.status == status.value)
                                           .order_by(KycCallbackRecord.id.desc()).limit(limit))).all())
