"""Sumsub's REST API as the service uses it: signed requests, timeouts, retries, typed errors."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from service import clock as service_clock
from service.kyc.domain import APPLICANT_ID_MAX, json_object

__all__ = ["Applicant", "SumsubClient", "SumsubError", "SumsubUnavailable", "sign_request"]

log = structlog.get_logger(__name__)

_DUPLICATE_APPLICANT = re.compile(r"already exists: ([0-9a-f]{24})\s*$")


class SumsubError(Exception):
    """Sumsub refused the request; ``status`` and Sumsub's ``error_code``/``description`` say why."""

    def __init__(self, status: int, description: str, error_code: int | None = None) -> None:
        super().__init__(f"Sumsub answered {status}: {description}")
        self.status = status
        self.description = description
        self.error_code = error_code


class SumsubUnavailable(SumsubError):
    """Sumsub could not be reached, or kept failing (5xx, 429, timeouts) through every retry."""


@dataclass(frozen=True)
class Applicant:
    id: str
    external_user_id: str
    level_name: str | None
    review_status: str | None


def sign_request(secret: str, timestamp: int, method: str, path_with_query: str, body: bytes) -> str:
    """Sumsub's X-App-Access-Sig: hex HMAC-SHA256 of ``ts + METHOD + path?query + body``."""
    message = str(timestamp).encode() + method.upper().encode() + path_with_query.encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class SumsubClient:
    RETRYABLE = frozenset({429, 500, 502, 503, 504})

    def __init__(
        self,
        base_url: str,
        app_token: str,
        secret_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        attempts: int = 3,
        backoff: float = 0.25,
        timeout: float = 10.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._base = base_url.rstrip("/")
        self._token = app_token
        self._secret = secret_key
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        # requests are signed with the service's time (a sandbox's clock, which QA can advance)
        self._clock = clock or (lambda: service_clock.now().timestamp())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        last: SumsubError | None = None
        for attempt in range(1, self._attempts + 1):
            timestamp = int(self._clock())
            headers = {
                "X-App-Token": self._token,
                "X-App-Access-Ts": str(timestamp),
                "X-App-Access-Sig": sign_request(self._secret, timestamp, method, path, raw),
                "Accept": "application/json",
            }
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                response = await self._http.request(
                    method, self._base + path, content=raw or None, headers=headers, timeout=self._timeout
                )
            except httpx.TransportError as exc:
                last = SumsubUnavailable(0, f"{type(exc).__name__} talking to Sumsub")
                delay = self._backoff * 2 ** (attempt - 1)
            else:
                if response.status_code < 400:
                    return response.json() if response.content else None
                error = _error_from(response)
                if response.status_code not in self.RETRYABLE:
                    raise error
                last = SumsubUnavailable(error.status, error.description, error.error_code)
                delay = _retry_after(response) or self._backoff * 2 ** (attempt - 1)
            if attempt < self._attempts:
                log.warning("sumsub.retry", path=path.split("?")[0], attempt=attempt, reason=str(last))
                await asyncio.sleep(min(delay, 5.0) * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
        assert last is not None
        raise last

    async def create_applicant(
        self, *, external_user_id: str, level_name: str, applicant_type: str, email: str | None = None
    ) -> Applicant:
        """Create the applicant; when Sumsub already has one for this id (409), that one."""
        body: dict[str, Any] = {"externalUserId": external_user_id, "type": applicant_type}
        if email:
            body["email"] = email
        try:
            data = await self._request("POST", f"/resources/applicants?levelName={quote(level_name, safe='')}", body)
        except SumsubError as exc:
            if exc.status != 409 or not _DUPLICATE_APPLICANT.search(exc.description):
                raise
            log.info("sumsub.applicant_exists", external_user_id=external_user_id)
            return await self.applicant_by_external_id(external_user_id)
        return _applicant(data)

    async def applicant_by_external_id(self, external_user_id: str) -> Applicant:
        data = await self._request(
            "GET", f"/resources/applicants/-;externalUserId={quote(external_user_id, safe='')}/one"
        )
        return _applicant(data)

    async def create_permalink(
        self, *, external_user_id: str, level_name: str, ttl_seconds: int = 3600, email: str | None = None
    ) -> str:
        body: dict[str, Any] = {"levelName": level_name, "userId": external_user_id, "ttlInSecs": ttl_seconds}
        if email:
            body["applicantIdentifiers"] = {"email": email}
        data = await self._request("POST", "/resources/sdkIntegrations/levels/-/websdkLink", body)
        url = data.get("url") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url:
            raise SumsubError(502, "Sumsub answered the permalink call without a url")
        return url


def _applicant(data: Any) -> Applicant:
    applicant_id = data.get("id") if isinstance(data, dict) else None
    # the id is stored (customers.applicant_id): one that cannot be is Sumsub's error, not a 500 of ours
    if not isinstance(applicant_id, str) or not 0 < len(applicant_id) <= APPLICANT_ID_MAX or "\x00" in applicant_id:
        raise SumsubError(502, "Sumsub answered with something that is not an applicant")
    review = json_object(data, "review")
    return Applicant(
        id=applicant_id,
        external_user_id=str(data.get("externalUserId", "")),
        level_name=review.get("levelName") or data.get("levelName"),
        review_status=review.get("reviewStatus"),
    )


def _error_from(response: httpx.Response) -> SumsubError:
    try:
        data = response.json()
    except ValueError:
        data = {}
    description = data.get("description") if isinstance(data, dict) else None
    code = data.get("errorCode") if isinstance(data, dict) else None
    return SumsubError(
        response.status_code,
        str(description or response.reason_phrase or "error"),
        code if isinstance(code, int) else None,
    )


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
