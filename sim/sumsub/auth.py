"""Which signed API calls Sumsub refuses, and with which error code.

The checks run in the order a client most needs to hear about them: missing headers, then the
token, then the timestamp, then the signature. Codes and the names for 4000, 4002, 4003 and 4004
are Sumsub's; the names for the other codes follow the same pattern (unverified).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sim.sumsub.signing import (
    ACCESS_SIG_HEADER,
    ACCESS_TS_HEADER,
    APP_TOKEN_HEADER,
    verify_request_signature,
)

__all__ = ["AuthRefusal", "SignedRequest", "check_signed_request"]

# sbx:<public part>.<private part>; prd: for production
_TOKEN_SHAPE = re.compile(r"^(sbx|prd|msdk):[A-Za-z0-9]+\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class AuthRefusal:
    error_code: int
    error_name: str
    description: str


BAD_TOKEN_FORMAT = AuthRefusal(4000, "app-token-invalid-format", "App token has an invalid format")
TOKEN_NOT_FOUND = AuthRefusal(4001, "app-token-not-found", "App token not found")
PRIVATE_PART_MISMATCH = AuthRefusal(4002, "app-token-private-part-mismatch", "App token private part mismatch")
SIGNATURE_MISMATCH = AuthRefusal(4003, "app-token-signature-mismatch", "Request signature mismatch")
REQUEST_EXPIRED = AuthRefusal(4004, "app-token-request-expired",
                              "X-App-Access-Ts doesn't match to the number of seconds since Unix Epoch in UTC.")
INVALID_VALUES = AuthRefusal(4005, "app-token-invalid-values", "X-App-Access-Ts is not a number of seconds")
MISSING_HEADERS = AuthRefusal(4006, "app-token-missing-headers",
                              "Missing required headers: X-App-Token, X-App-Access-Ts, X-App-Access-Sig")


@dataclass(frozen=True)
class SignedRequest:
    """A call as it reached the server; ``path_as_sent`` keeps the client's escaping and query string."""

    method: str
    path_as_sent: bytes
    headers: Mapping[str, str]  # lower-case names
    body: bytes


def check_signed_request(request: SignedRequest, *, app_token: str, secret_key: str, now: float,
                         tolerance: float = 60.0) -> AuthRefusal | None:
    token = request.headers.get(APP_TOKEN_HEADER.lower())
    ts = request.headers.get(ACCESS_TS_HEADER.lower())
    signature = request.headers.get(ACCESS_SIG_HEADER.lower())
    if not token or not ts or not signature:
        return MISSING_HEADERS
    if token != app_token:
        if not _TOKEN_SHAPE.match(token):
            return BAD_TOKEN_FORMAT
        if token.split(".", 1)[0] == app_token.split(".", 1)[0]:
            return PRIVATE_PART_MISMATCH
        return TOKEN_NOT_FOUND
    try:
        seconds = int(ts)
    except ValueError:
        return INVALID_VALUES
    if abs(now - seconds) > tolerance:
        return REQUEST_EXPIRED
    if not verify_request_signature(secret_key, ts, request.method, request.path_as_sent, request.body, signature):
        return SIGNATURE_MISMATCH
    return None
