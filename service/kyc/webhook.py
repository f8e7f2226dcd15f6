"""``POST /webhooks/sumsub``: verify, store in the inbox, acknowledge. Nothing else happens here."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

import msgspec
import structlog
from litestar import Request, post
from litestar.datastructures import Headers
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ASGIApp, Receive, Scope, Send

from service.dependencies import AppSettings
from service.kyc.domain import CallbackError, decode_callback, idempotency_key
from service.kyc.inbox import UnstorableCallback, storage_problem
from service.logging import on_request_line
from service.openapi import SUMSUB_SIGNATURE, SumsubCallbackOperation, WebhookAck, problems
from service.problems import Problem

__all__ = ["DIGEST_ALGORITHMS", "payload_digest", "sumsub_webhook"]

log = structlog.get_logger(__name__)

DIGEST_ALGORITHMS = {
    "HMAC_SHA1_HEX": hashlib.sha1,
    "HMAC_SHA256_HEX": hashlib.sha256,
    "HMAC_SHA512_HEX": hashlib.sha512,
}


def payload_digest(secret: str, body: bytes, algorithm: str) -> str:
    return hmac.new(secret.encode(), body, DIGEST_ALGORITHMS[algorithm]).hexdigest()


class _Acknowledgement:
    """The webhook's 200, encoded once. Litestar's answer to a returned dict (an encoder, a header
    set built and searched) took a fifth of the webhook's time in the process; the status, the body
    and the headers are what that answer was (``tests/integration/test_sumsub_webhook.py``)."""

    def __init__(self, status: Literal["accepted", "duplicate"]) -> None:
        body = msgspec.json.encode(WebhookAck(status))
        self._headers = ((b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()))
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # new messages each time: the middlewares add their headers to them
        await send({"type": "http.response.start", "status": 200, "headers": list(self._headers)})
        await send({"type": "http.response.body", "body": self._body, "more_body": False})


_ACCEPTED = _Acknowledgement("accepted")
_DUPLICATE = _Acknowledgement("duplicate")


def _refused(detail: str) -> Problem:
    return Problem(401, "invalid_signature", detail)


async def _read_limited(request: Request[Any, Any, Any], headers: Headers, limit: int) -> bytes:
    declared = headers.get("content-length")
    # isascii: str.isdigit also holds for digits int() would refuse ("²"); the length keeps int() cheap
    if declared and declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise Problem(413, "payload_too_large", f"callbacks are limited to {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "payload_too_large", f"callbacks are limited to {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@post("/webhooks/sumsub", tags=["webhooks"], status_code=200, summary="Sumsub callback intake",
      opt={"public": True, "authentication": "X-Payload-Digest HMAC of the raw body"},
      operation_id="receiveSumsubCallback", security=SUMSUB_SIGNATURE, operation_class=SumsubCallbackOperation,
      responses={200: ResponseSpec(WebhookAck, description="Stored (`accepted`), or already stored (`duplicate`)"),
                 **problems(400, 401, 413, 503, instance="/webhooks/sumsub", descriptions={
                     400: "The body is not JSON, or not a callback.",
                     401: "X-Payload-Digest or X-Payload-Digest-Alg is missing, or does not match the body.",
                     503: "SUMSUB_WEBHOOK_SECRET is not set."}, codes={
                     400: ("malformed_callback", "unstorable_callback"), 401: ("invalid_signature",),
                     413: ("payload_too_large",), 503: ("webhook_not_configured",)})})
async def sumsub_webhook(request: Request[Any, Any, Any], settings: AppSettings) -> ASGIApp:
    headers = request.headers  # built anew on every access: once here
    body = await _read_limited(request, headers, settings.webhook_max_body_bytes)
    secret = settings.sumsub_webhook_secret
    if not secret:
        log.error("webhook.secret_missing")
        raise Problem(503, "webhook_not_configured", "SUMSUB_WEBHOOK_SECRET is not set")
    digest = headers.get("x-payload-digest")
    algorithm = headers.get("x-payload-digest-alg")
    if not digest or not algorithm:
        raise _refused("X-Payload-Digest and X-Payload-Digest-Alg are required")
    if algorithm not in DIGEST_ALGORITHMS:
        raise _refused(f"unsupported digest algorithm {algorithm!r}")
    # bytes, not str: compare_digest refuses non-ASCII text, and the header is the caller's to choose
    expected = payload_digest(secret, body, algorithm).encode()
    if not hmac.compare_digest(expected, digest.strip().lower().encode("utf-8", "replace")):
        raise _refused("the digest does not match the body")

    try:
        callback = decode_callback(body)
    except CallbackError as exc:
        raise Problem(400, "malformed_callback", str(exc)) from exc
    problem = storage_problem(body)
    if problem:
        raise Problem(400, "malformed_callback", problem)

    try:
        callback_id = await request.app.state.inbox.store(idempotency_key(callback, body), callback, body)
    except UnstorableCallback as exc:
        # the database's own words stay in the log: they are not the caller's business
        raise Problem(400, "unstorable_callback", "the callback holds a value that cannot be stored") from exc
    if callback_id is None:
        on_request_line(request.scope, callback="duplicate", type=callback.type,
                        correlation_id=(callback.correlation_id or "")[:128])
        return _DUPLICATE
    on_request_line(request.scope, callback_id=callback_id, type=callback.type)
    return _ACCEPTED
