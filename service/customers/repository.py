"""Customers in PostgreSQL: create, find, page through, change."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from psycopg.errors import UniqueViolation
from sqlalchemy import Select, Table, and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.customers.domain import (
    ActivityStatus,
    Customer,
    CustomerType,
    KycLevel,
    KycStatus,
    StatusFilter,
    VerificationStatus,
    is_public_id,
)
from service.db.driver import DriverStatement
from service.db.models import CustomerRecord

__all__ = [
    "STATE_COLUMNS",
    "CustomerNotFound",
    "CustomerRow",
    "DuplicateCustomer",
    "InvalidCursor",
    "Page",
    "customer_state",
    "decode_cursor",
    "encode_cursor",
    "find_customer",
    "insert_customer",
    "list_customers",
    "state_values",
    "store_state",
    "update_state",
]


class DuplicateCustomer(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(f"a customer with this {field} already exists")
        self.field = field


class CustomerNotFound(Exception):
    def __init__(self, reference: str) -> None:
        super().__init__(f"no customer {reference!r}")
        self.reference = reference


class InvalidCursor(ValueError):
    pass


_UNIQUE_FIELDS = {"uq_customers_email": "email", "uq_customers_telegram_id": "telegram_id"}


async def insert_customer(session: AsyncSession, *, email: str, customer_type: CustomerType,
                          telegram_id: str | None) -> CustomerRecord:
    record = CustomerRecord(email=email, customer_type=customer_type.value, telegram_id=telegram_id)
    session.add(record)
    try:
        await session.flush()
    except IntegrityError as exc:
        name = exc.orig.diag.constraint_name if isinstance(exc.orig, UniqueViolation) else None
        if name in _UNIQUE_FIELDS:
            raise DuplicateCustomer(_UNIQUE_FIELDS[name]) from exc
        raise
    return record


# a row of a Core statement on the customers table (SQLAlchemy's Row, or a DriverStatement's named tuple)
CustomerRow = Any
# the columns a customer's lifecycle state is read from (a Core statement may select only these)
STATE_COLUMNS = (CustomerRecord.id, CustomerRecord.customer_type, CustomerRecord.kyc_status,
                 CustomerRecord.verification_status, CustomerRecord.kyc_level, CustomerRecord.activity_status,
                 CustomerRecord.applicant_id, CustomerRecord.kyc_started_at, CustomerRecord.kyc_reviewed_at,
                 CustomerRecord.kyc_reject_type, CustomerRecord.kyc_reject_labels,
                 CustomerRecord.kyc_moderation_comment, CustomerRecord.kyc_client_comment)
# and what the jobs need besides: the state, where to send the welcome email, the customer's Keycloak user
WORKING_COLUMNS = (*STATE_COLUMNS, CustomerRecord.email, CustomerRecord.keycloak_user_id)


def customer_state(record: CustomerRecord | CustomerRow) -> Customer:
    """The stored customer (a record, or a row of at least :data:`STATE_COLUMNS`) as its lifecycle state."""
    return Customer(
        id=record.id,
        customer_type=CustomerType(record.customer_type),
        kyc_status=KycStatus(record.kyc_status),
        verification_status=VerificationStatus(record.verification_status),
        kyc_level=KycLevel(record.kyc_level),
        activity_status=ActivityStatus(record.activity_status),
        applicant_id=record.applicant_id,
        kyc_started_at=record.kyc_started_at,
        kyc_reviewed_at=record.kyc_reviewed_at,
        kyc_reject_type=record.kyc_reject_type,
        kyc_reject_labels=tuple(record.kyc_reject_labels or ()),
        kyc_moderation_comment=record.kyc_moderation_comment,
        kyc_client_comment=record.kyc_client_comment,
    )


def state_values(state: Customer) -> dict[str, Any]:
    """A lifecycle state as the column values that store it (for a Core ``UPDATE``)."""
    return {
        "kyc_status": state.kyc_status.value,
        "verification_status": state.verification_status.value,
        "kyc_level": state.kyc_level.value,
        "activity_status": state.activity_status.value,
        "applicant_id": state.applicant_id,
        "kyc_started_at": state.kyc_started_at,
        "kyc_reviewed_at": state.kyc_reviewed_at,
        "kyc_reject_type": state.kyc_reject_type,
        "kyc_reject_labels": list(state.kyc_reject_labels),
        "kyc_moderation_comment": state.kyc_moderation_comment,
        "kyc_client_comment": state.kyc_client_comment,
    }


_customers = cast(Table, CustomerRecord.__table__)
_STATE_NAMES = (*(c.key for c in STATE_COLUMNS if c.key not in ("id", "customer_type")), "keycloak_user_id")
# built once (building an UPDATE anew costs more CPU than the database spends running it); parameters
# not named after columns, which a Core UPDATE would take as values to set
_UPDATE_STATE = DriverStatement(update(_customers).where(_customers.c.id == bindparam("the_customer"))
                                .values({name: bindparam(f"new_{name}") for name in _STATE_NAMES}))


# the customer's row lock orders everything that changes its lifecycle, across APIs and workers
_LOCKED = DriverStatement(select(*WORKING_COLUMNS).where(CustomerRecord.id == bindparam("the_customer"))
                          .with_for_update(of=CustomerRecord))


async def lock_customer(session: AsyncSession, customer_id: uuid.UUID) -> CustomerRow | None:
    """The customer's row (:data:`WORKING_COLUMNS`) locked ``FOR UPDATE`` until the transaction ends;
    None when there is no such customer."""
    return await _LOCKED.first(session, {"the_customer": customer_id})


async def update_state(session: AsyncSession, state: Customer, *, keycloak_user_id: str | None) -> None:
    """Write a lifecycle state (and the customer's Keycloak user) to the customer's locked row."""
    await _UPDATE_STATE.run(session, {"the_customer": state.id, "new_keycloak_user_id": keycloak_user_id,
                                      **{f"new_{name}": value for name, value in state_values(state).items()}})


def store_state(record: CustomerRecord, state: Customer) -> None:
    """Write a lifecycle state back onto the (locked) row; the caller's transaction commits it."""
    for name, value in state_values(state).items():
        setattr(record, name, value)


async def find_customer(session: AsyncSession, reference: str, *, for_update: bool = False,
                        for_share: bool = False) -> CustomerRecord:
    """By UUID or by public id (``C1000``). ``for_update`` locks the row against every other lock;
    ``for_share`` against ``for_update`` only (postings share it, a status change excludes them)."""
    query = select(CustomerRecord)
    try:
        query = query.where(CustomerRecord.id == uuid.UUID(reference))
    except ValueError:
        if not is_public_id(reference):
            raise CustomerNotFound(reference) from None
        query = query.where(CustomerRecord.public_id == reference.upper())
    if for_update or for_share:
        query = query.with_for_update(read=not for_update)
    record = await session.scalar(query)
    if record is None:
        raise CustomerNotFound(reference)
    return record


@dataclass(frozen=True)
class Page:
    items: list[CustomerRecord]
    next_cursor: str | None


_SIGNATURE_BYTES = 16


def encode_cursor(record: CustomerRecord, key: bytes) -> str:
    """Opaque and signed: the position (creation time in microseconds, id) and an HMAC of it, so only a
    cursor this API issued is ever turned back into a query."""
    position = struct.pack(">q", _microseconds(record.created_at)) + record.id.bytes
    signature = hmac.new(key, position, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(position + signature).decode().rstrip("=")


def decode_cursor(cursor: str, key: bytes) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    position, signature = raw[:-_SIGNATURE_BYTES], raw[-_SIGNATURE_BYTES:]
    expected = hmac.new(key, position, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    if len(position) != 24 or not hmac.compare_digest(signature, expected):
        raise InvalidCursor("cursor is not one this API issued")
    (micros,) = struct.unpack(">q", position[:8])
    return _EPOCH + timedelta(microseconds=micros), uuid.UUID(bytes=position[8:])


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select[Any], status: StatusFilter | None,
              search: str | None) -> Select[Any]:
    if status is StatusFilter.PENDING:
        query = query.where(CustomerRecord.verification_status == VerificationStatus.PENDING_VERIFICATION.value)
    elif status is not None:
        query = query.where(CustomerRecord.activity_status == ActivityStatus(status.value).value)
    if search:
        by_email = CustomerRecord.email.ilike(f"%{_escape_like(search.lower())}%", escape="\\")
        query = query.where(or_(by_email, CustomerRecord.public_id == search.upper())
                            if is_public_id(search) else by_email)
    return query


async def list_customers(session: AsyncSession, *, status: StatusFilter | None, search: str | None,
                         newest_first: bool, limit: int, cursor: str | None, cursor_key: bytes) -> Page:
    query = _filtered(select(CustomerRecord), status, search)
    if cursor is not None:
        created_at, record_id = decode_cursor(cursor, cursor_key)
        if newest_first:
            query = query.where(or_(CustomerRecord.created_at < created_at,
                                    and_(CustomerRecord.created_at == created_at, CustomerRecord.id < record_id)))
        else:
            query = query.where(or_(CustomerRecord.created_at > created_at,
                                    and_(CustomerRecord.created_at == created_at, CustomerRecord.id > record_id)))
    order = (CustomerRecord.created_at.desc(), CustomerRecord.id.desc()) if newest_first \
        else (CustomerRecord.created_at.asc(), CustomerRecord.id.asc())
    rows = list((await session.scalars(query.order_by(*order).limit(limit + 1))).all())
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items, encode_cursor(items[-1], cursor_key) if more and items else None)
