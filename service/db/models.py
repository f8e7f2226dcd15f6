"""Tables. Rules that must hold whatever code runs live here as constraints, not only in Python."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.customers.domain import (
    ActivityStatus,
    CustomerType,
    KycLevel,
    KycStatus,
    VerificationStatus,
)
from service.kyc.domain import (
    APPLICANT_ID_MAX,
    CORRELATION_ID_SHOWN,
    CREATED_AT_MS_SHOWN,
    EXTERNAL_USER_ID_MAX,
    IDEMPOTENCY_KEY_MAX,
    TYPE_MAX,
    CallbackStatus,
)
from service.provisioning.plan import Step, StepStatus

__all__ = [
    "AuditRecord",
    "Base",
    "CustomerRecord",
    "KycCallbackRecord",
    "OutboxRecord",
    "ProvisioningStepRecord",
    "public_id_sequence",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _one_of(column: str, values: type) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"  # type: ignore[attr-defined]


public_id_sequence = Sequence("customer_public_id_seq", start=1000, metadata=Base.metadata)


class CustomerRecord(Base):
    __tablename__ = "customers"
    # what the database fills in (the public id, the timestamps) comes back with the INSERT or UPDATE
    # itself (RETURNING), not by a SELECT of its own afterwards
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    public_id: Mapped[str] = mapped_column(
        String(16), unique=True, nullable=False,
        server_default=text("'C' || nextval('customer_public_id_seq')"),
    )
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    telegram_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_type: Mapped[str] = mapped_column(String(40), nullable=False)
    kyc_status: Mapped[str] = mapped_column(String(20), nullable=False, default=KycStatus.NOT_STARTED.value)
    verification_status: Mapped[str] = mapped_column(
        String(24), nullable=False, default=VerificationStatus.PENDING_VERIFICATION.value
    )
    kyc_level: Mapped[str] = mapped_column(String(16), nullable=False, default=KycLevel.NOT_KYCED.value)
    activity_status: Mapped[str] = mapped_column(String(16), nullable=False, default=ActivityStatus.INACTIVE.value)
    applicant_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # the customer's login in Keycloak's customer realm, once provisioning has made it
    keycloak_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # KYC facts beyond the statuses: when it started, and the last review's verdict
    kyc_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kyc_reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kyc_reject_type: Mapped[str | None] = mapped_column(String(8))
    kyc_reject_labels: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}",
                                                         default=list)
    kyc_moderation_comment: Mapped[str | None] = mapped_column(Text)
    kyc_client_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        Index("ix_customers_created_at_id", "created_at", "id"),
        CheckConstraint(_one_of("customer_type", CustomerType), name="customer_type"),
        CheckConstraint(_one_of("kyc_status", KycStatus), name="kyc_status"),
        CheckConstraint(_one_of("verification_status", VerificationStatus), name="verification_status"),
        CheckConstraint(_one_of("kyc_level", KycLevel), name="kyc_level"),
        CheckConstraint(_one_of("activity_status", ActivityStatus), name="activity_status"),
        # stored lower-cased, so the unique constraint holds regardless of case
        CheckConstraint("email = lower(email)", name="email_lower"),
    )


class AuditRecord(Base):
    """An authorisation decision. Append-only: a trigger refuses UPDATE and DELETE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object: Mapped[str] = mapped_column(Text, nullable=False)
    decision: Mapped[str] = mapped_column(String(8), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("decision IN ('allowed', 'denied')", name="decision"),
        Index("ix_audit_log_subject_at", "subject", "at"),
    )


class KycCallbackRecord(Base):
    """The inbox: every verified Sumsub callback, once, with where its processing stands."""

    __tablename__ = "kyc_callbacks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # bounded, so that no signed body can make an entry too large for the UNIQUE index
    idempotency_key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX), unique=True, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    type: Mapped[str] = mapped_column(String(TYPE_MAX), nullable=False)
    external_user_id: Mapped[str | None] = mapped_column(String(EXTERNAL_USER_ID_MAX))
    applicant_id: Mapped[str | None] = mapped_column(String(APPLICANT_ID_MAX))
    # the readable parts of the idempotency key, cut to a length an operator can read
    correlation_id: Mapped[str | None] = mapped_column(String(CORRELATION_ID_SHOWN))
    created_at_ms: Mapped[str | None] = mapped_column(String(CREATED_AT_MS_SHOWN))
    event_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=CallbackStatus.RECEIVED.value)
    attempts: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # set when the relay has enqueued the row's processing job
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_one_of("status", CallbackStatus), name="status"),
        Index("ix_kyc_callbacks_unqueued", "id", postgresql_where=text("queued_at IS NULL")),
        Index("ix_kyc_callbacks_applicant_id_status", "applicant_id", "status"),
        Index("ix_kyc_callbacks_external_user_id_status", "external_user_id", "status"),
        Index("ix_kyc_callbacks_status_received_at", "status", "received_at"),
    )


class OutboxRecord(Base):
    """Events written in the same transaction as the change that caused them; a relay publishes them."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    relayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_outbox_unrelayed", "id", postgresql_where=text("relayed_at IS NULL")),
        Index("ix_outbox_customer_id", "customer_id", "id"),
    )


class ProvisioningStepRecord(Base):
    """Where one provisioning step of one customer stands: what, how often tried, the last error."""

    __tablename__ = "provisioning_steps"

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"), nullable=False)
    step: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=StepStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    external_ref: Mapped[str | None] = mapped_column(Text)
    # a runner holds the step until then: two runs of one step never overlap (a dead runner's claim lapses)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        PrimaryKeyConstraint("customer_id", "step", name="pk_provisioning_steps"),
        CheckConstraint(_one_of("status", StepStatus), name="status"),
        CheckConstraint(_one_of("step", Step), name="step"),
    )
