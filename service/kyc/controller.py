"""HTTP edge of KYC for operators: start it, and see the callbacks behind a customer's state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Request, get, post
from litestar.params import FromQuery, QueryParameter

from service.auth.guards import requires
from service.auth.permissions import Permission
from service.customers.controller import CustomerReference
from service.customers.domain import KycStartRefused
from service.db.models import KycCallbackRecord
from service.dependencies import AppSettings, Sessions
from service.kyc import service
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
        try:
            started = await service.start_kyc(sessions, settings, lambda: _sumsub(request), customer_id)
        except KycStartRefused as refused:
            raise Problem(409, refused.code, str(refused), **refused.details) from refused
        except SumsubError as exc:
            log.warning("kyc.link_failed", customer_id=customer_id, status=exc.status, reason=exc.description)
            raise Problem(502, "sumsub_failed", f"Sumsub could not create the verification link: {exc}",
                          upstream_status=exc.status) from exc
        return KycLink(url=started.url, applicant_id=started.applicant_id, level_name=started.level_name)

    @get("/customers/{customer_id:str}/kyc/callbacks", guards=[requires(Permission.CUSTOMER_READ)],
         summary="The Sumsub callbacks received for a customer, oldest first", operation_id="listCustomerCallbacks",
         security=OPERATOR, responses=operator_problems(404, 422))
    async def customer_callbacks(self, customer_id: CustomerReference,
                                 sessions: Sessions) -> list[KycCallbackView]:
        return [_callback_view(r) for r in await service.customer_callbacks(sessions, customer_id)]

    @get("/kyc/callbacks", guards=[requires(Permission.CUSTOMER_READ)],
         summary="Callbacks by processing status: orphans and failures need an operator",
         operation_id="listCallbacks", security=OPERATOR, responses=operator_problems(422))
    async def callbacks_by_status(
        self, sessions: Sessions,
        status: FromQuery[CallbackStatus] = CallbackStatus.ORPHAN,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[KycCallbackView]:
        return [_callback_view(r) for r in await service.callbacks_by_status(sessions, status, limit)]
