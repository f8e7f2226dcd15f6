"""HTTP edge of KYC for operators: start it, and see the callbacks behind a customer's state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Request, get, post
from litestar.params import FromQuery, QueryParameter
from sqlalchemy import select

from service.auth.guards import requires
from service.auth.permissions import Permission
from service.customers import repository
from service.customers.controller import CustomerReference
from service.customers.domain import ActivityStatus, CustomerType, KycStatus, kyc_level_name
from service.db.models import KycCallbackRecord
from service.dependencies import AppSettings, Sessions
from service.kyc.domain import CallbackStatus, json_object
from service.kyc.sumsub import SumsubClient, SumsubError
from service.openapi import OPERATOR, operator_problems
from service.problems import Problem

__all__ = ["KycCallbackView", "KycController", "KycLink"]

log = structlog.get_logger(__name__)


class KycLink(msgspec.Struct):
    url: str
    applicant_id: str
    level_name: str


class KycCallbackView(msgspec.Struct):
    id: int
    type: str
    status: CallbackStatus
    correlation_id: str | None
    created_at_ms: str | None
    external_user_id: str | None
    applicant_id: str | None
    event_created_at: datetime | None
    received_at: datetime
    processed_at: datetime | None
    attempts: int
    last_error: str | None
    review_answer: str | None


def _callback_view(row: KycCallbackRecord) -> KycCallbackView:
    answer = json_object(row.payload, "reviewResult").get("reviewAnswer")
    return KycCallbackView(id=row.id, type=row.type, status=CallbackStatus(row.status),
                           correlation_id=row.correlation_id, created_at_ms=row.created_at_ms,
                           external_user_id=row.external_user_id,
                           applicant_id=row.applicant_id, event_created_at=row.event_created_at,
                           received_at=row.received_at, processed_at=row.processed_at, attempts=row.attempts,
                           last_error=row.last_error,
                           # rows stored before intake checked types may hold anything here
                           review_answer=answer if isinstance(answer, str) else None)


def _sumsub(request: Request[Any, Any, Any]) -> SumsubClient:
    client: SumsubClient | None = request.app.state.sumsub
    if client is None:
        raise Problem(503, "sumsub_not_configured", "SUMSUB_APP_TOKEN and SUMSUB_SECRET_KEY are not set")
    return client


class KycController(Controller):
    path = "/api"
    tags = ["kyc"]

    @post("/customers/{customer_id:str}/kyc-link", guards=[requires(Permission.CUSTOMER_UPDATE)], status_code=200,
          summary="Start KYC: a Sumsub verification link for the customer", operation_id="createKycLink",
          security=OPERATOR, responses=operator_problems(404, 409, 502, 503, codes={
              409: ("customer_suspended", "kyc_rejected_final", "kyc_already_approved"),
              503: ("sumsub_not_configured",)}))
    async def create_kyc_link(self, request: Request[Any, Any, Any], customer_id: CustomerReference,
                              sessions: Sessions, settings: AppSettings) -> KycLink:
        async with sessions() as session:
            customer = await repository.find_customer(session, customer_id)
        if customer.activity_status == ActivityStatus.SUSPENDED.value:
            raise Problem(409, "customer_suspended", "a suspended customer cannot start KYC")
        if customer.kyc_status == KycStatus.REJECTED.value and customer.kyc_reject_type == "FINAL":
            raise Problem(409, "kyc_rejected_final", "Sumsub rejected this customer for good (FINAL); "
                          "they cannot resubmit", reject_labels=list(customer.kyc_reject_labels or []))
        if customer.kyc_status == KycStatus.APPROVED.value:
            raise Problem(409, "kyc_already_approved", "this customer's KYC is already approved")

        sumsub = _sumsub(request)
        customer_type = CustomerType(customer.customer_type)
        level = kyc_level_name(customer_type, kyc_level=settings.sumsub_kyc_level, kyb_level=settings.sumsub_kyb_level)
        external_id = str(customer.id)
        try:
            applicant_id = customer.applicant_id or (await sumsub.create_applicant(
                external_user_id=external_id, level_name=level, email=customer.email,
                applicant_type="individual" if customer_type is CustomerType.INDIVIDUAL else "company",
            )).id
            url = await sumsub.create_permalink(external_user_id=external_id, level_name=level, email=customer.email)
        except SumsubError as exc:
            log.warning("kyc.link_failed", customer_id=external_id, status=exc.status, reason=exc.description)
            raise Problem(502, "sumsub_failed", f"Sumsub could not create the verification link: {exc}",
                          upstream_status=exc.status) from exc

        async with sessions.begin() as session:
            customer = await repository.find_customer(session, external_id, for_update=True)
            customer.applicant_id = customer.applicant_id or applicant_id
            if customer.kyc_started_at is None:
                customer.kyc_started_at = datetime.now(UTC)
            if customer.kyc_status == KycStatus.NOT_STARTED.value:
                customer.kyc_status = KycStatus.PENDING.value
        log.info("kyc.link_created", customer_id=external_id, applicant_id=applicant_id, level=level)
        return KycLink(url=url, applicant_id=applicant_id, level_name=level)

    @get("/customers/{customer_id:str}/kyc/callbacks", guards=[requires(Permission.CUSTOMER_READ)],
         summary="The Sumsub callbacks received for a customer, oldest first", operation_id="listCustomerCallbacks",
         security=OPERATOR, responses=operator_problems(404, 422))
    async def customer_callbacks(self, customer_id: CustomerReference,
                                 sessions: Sessions) -> list[KycCallbackView]:
        async with sessions() as session:
            customer = await repository.find_customer(session, customer_id)
            belongs = KycCallbackRecord.external_user_id == str(customer.id)
            if customer.applicant_id:
                belongs = belongs | (KycCallbackRecord.applicant_id == customer.applicant_id)
            rows = (await session.scalars(select(KycCallbackRecord).where(belongs)
                                          .order_by(KycCallbackRecord.id))).all()
        return [_callback_view(r) for r in rows]

    @get("/kyc/callbacks", guards=[requires(Permission.CUSTOMER_READ)],
         summary="Callbacks by processing status: orphans and failures need an operator",
         operation_id="listCallbacks", security=OPERATOR, responses=operator_problems(422))
    async def callbacks_by_status(
        self, sessions: Sessions,
        status: FromQuery[CallbackStatus] = CallbackStatus.ORPHAN,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[KycCallbackView]:
        async with sessions() as session:
            rows = (await session.scalars(select(KycCallbackRecord).where(KycCallbackRecord.status == status)
                                          .order_by(KycCallbackRecord.id.desc()).limit(limit))).all()
        return [_callback_view(r) for r in rows]
