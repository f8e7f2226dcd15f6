"""Sumsub callbacks as tests send them: shaped like the real ones, signed as Sumsub signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

__all__ = ["T0", "applicant_of", "callback", "post_signed", "signed_headers", "sumsub_ms"]

T0 = datetime(2026, 5, 4, 9, 12, 40, tzinfo=UTC)


def sumsub_ms(moment: datetime) -> str:
    """``createdAtMs`` as Sumsub writes it: ``YYYY-MM-DD HH:MM:SS.mmm``, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def applicant_of(external_user_id: str) -> str:
    return hashlib.sha256(external_user_id.encode()).hexdigest()[:24]


def callback(kind: str, external_user_id: str, second: int, *, answer: str | None = None,
             reject: str | None = None, labels: list[str] | None = None) -> dict[str, Any]:
    applicant_id = applicant_of(external_user_id)
    body: dict[str, Any] = {
        "applicantId": applicant_id, "inspectionId": applicant_id, "applicantType": "individual",
        "correlationId": uuid.uuid4().hex, "levelName": "basic-kyc-level", "externalUserId": external_user_id,
        "type": kind, "sandboxMode": True, "reviewStatus": "completed" if answer else "pending",
        "createdAtMs": sumsub_ms(T0 + timedelta(seconds=second)), "clientId": "examplebank",
    }
    if answer:
        body["reviewResult"] = {"reviewAnswer": answer}
        if answer == "RED":
            body["reviewResult"].update(rejectLabels=labels or ["UNSATISFACTORY_PHOTOS"], reviewRejectType=reject,
                                        moderationComment="Please upload an original photo.",
                                        clientComment="Screenshot submitted instead of a photo.")
    return body


def signed_headers(body: bytes, secret: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Payload-Digest": digest, "X-Payload-Digest-Alg": "HMAC_SHA256_HEX", "Content-Type": "application/json"}


async def post_signed(api: httpx.AsyncClient, secret: str, payload: dict[str, Any] | bytes) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await api.post("/webhooks/sumsub", content=body, headers=signed_headers(body, secret))
