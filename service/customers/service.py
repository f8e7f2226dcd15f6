"""The customers' application service: each use case in one transaction, answered as the API shows it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.customers import repository
from service.customers.domain import CustomerType, StatusFilter, normalize_email, normalize_telegram_id
from service.customers.schemas import CustomerPage, CustomerView
from service.customers.views import customer_view, provisioning_of
from service.outbox import write_event

__all__ = ["create_customer", "deactivate_customer", "get_customer", "list_customers"]


async def create_customer(sessions: async_sessionmaker[AsyncSession], *, email: str, customer_type: CustomerType,
                          telegram_id: str | None) -> CustomerView:
    email = normalize_email(email)
    telegram_id = normalize_telegram_id(telegram_id)
    async with sessions.begin() as session:
        record = await repository.insert_customer(session, email=email, customer_type=customer_type,
                                                  telegram_id=telegram_id)
        return customer_view(record, {})


async def list_customers(sessions: async_sessionmaker[AsyncSession], *, status: StatusFilter | None,
                         search: str | None, newest_first: bool, limit: int, cursor: str | None,
                         cursor_key: bytes) -> CustomerPage:
    async with sessions() as session:
        page = await repository.list_customers(session, status=status, search=search, newest_first=newest_first,
                                               limit=limit, cursor=cursor, cursor_key=cursor_key)
    return CustomerPage(items=[customer_view(r) for r in page.items], next_cursor=page.next_cursor)


async def get_customer(sessions: async_sessionmaker[AsyncSession], reference: str) -> CustomerView:
    async with sessions() as session:
        record = await repository.find_customer(session, reference)
        return customer_view(record, await provisioning_of(session, record.id))


async def deactivate_customer(sessions: async_sessionmaker[AsyncSession], reference: str) -> CustomerView:
    """Suspend the customer; disabling the login and freezing the account follow from its event."""
    async with sessions.begin() as session:
        record = await repository.find_customer(session, reference, for_update=True)
        after, events = repository.customer_state(record).suspend()
        repository.store_state(record, after)
        for event in events:
            await write_event(session, event)
        await session.flush()
        await session.refresh(record)
        return customer_view(record, await provisioning_of(session, record.id))
