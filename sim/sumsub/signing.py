"""Sumsub's two signatures as pure functions.

- Calls to Sumsub's API carry ``X-App-Access-Sig``: hex HMAC-SHA256, keyed with the app secret,
  over ``timestamp + METHOD + path-with-query-as-sent + raw body``.
- Webhooks from Sumsub carry ``X-Payload-Digest``: hex HMAC of the raw body, keyed with the
  webhook's own secret, with the hash named by ``X-Payload-Digest-Alg``.

Standard library only: the service's Sumsub client and the fake must share one definition of each,
and neither should pull the other's dependencies in to get it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final, Literal, get_args

__all__ = [
    "ACCESS_SIG_HEADER",
    "ACCESS_TS_HEADER",
    "APP_TOKEN_HEADER",
    "DEFAULT_DIGEST_ALG",
    "DIGEST_ALGORITHMS",
    "PAYLOAD_DIGEST_ALG_HEADER",
    "PAYLOAD_DIGEST_HEADER",
    "DigestAlg",
    "payload_digest",
    "request_signature",
    "signed_request_headers",
    "verify_payload_digest",
    "verify_request_signature",
]

APP_TOKEN_HEADER: Final = "X-App-Token"  # noqa: S105 -- a header name, not a secret
ACCESS_TS_HEADER: Final = "X-App-Access-Ts"
ACCESS_SIG_HEADER: Final = "X-App-Access-Sig"
PAYLOAD_DIGEST_HEADER: Final = "X-Payload-Digest"
PAYLOAD_DIGEST_ALG_HEADER: Final = "X-Payload-Digest-Alg"

DigestAlg = Literal["HMAC_SHA1_HEX", "HMAC_SHA256_HEX", "HMAC_SHA512_HEX"]

DIGEST_ALGORITHMS: Final[Mapping[str, str]] = {
    "HMAC_SHA1_HEX": "sha1",
    "HMAC_SHA256_HEX": "sha256",
    "HMAC_SHA512_HEX": "sha512",
}
assert set(DIGEST_ALGORITHMS) == set(get_args(DigestAlg))

# what Sumsub picks for a webhook created today
DEFAULT_DIGEST_ALG: Final[DigestAlg] = "HMAC_SHA256_HEX"


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def request_signature(secret: str | bytes, ts: int | str, method: str, path_with_query: str | bytes,
                      body: str | bytes = b"") -> str:
    """The ``X-App-Access-Sig`` value.

    ``path_with_query`` must be byte for byte what goes on the request line (percent-escapes and
    query string included): Sumsub signs what it receives, not a normalised form.
    """
    message = f"{ts}{method.upper()}".encode() + _as_bytes(path_with_query) + _as_bytes(body)
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def verify_request_signature(secret: str | bytes, ts: int | str, method: str, path_with_query: str | bytes,
                             body: str | bytes, signature: str) -> bool:
    expected = request_signature(secret, ts, method, path_with_query, body)
    return hmac.compare_digest(expected, signature.lower())


def signed_request_headers(app_token: str, secret: str | bytes, method: str, path_with_query: str | bytes,
                           body: str | bytes = b"", *, ts: int) -> dict[str, str]:
    """The three headers every API call carries; ``ts`` is Unix seconds at sending time."""
    return {
        APP_TOKEN_HEADER: app_token,
        ACCESS_TS_HEADER: str(ts),
        ACCESS_SIG_HEADER: request_signature(secret, ts, method, path_with_query, body),
    }


def payload_digest(secret: str | bytes, body: bytes, alg: str = DEFAULT_DIGEST_ALG) -> str:
    """The ``X-Payload-Digest`` value for a raw webhook body; raises ``ValueError`` for an unknown alg."""
    try:
        hash_name = DIGEST_ALGORITHMS[alg]
    except KeyError:
        raise ValueError(f"unknown X-Payload-Digest-Alg {alg!r}; Sumsub sends one of "
                         f"{', '.join(DIGEST_ALGORITHMS)}") from None
    return hmac.new(_as_bytes(secret), body, hash_name).hexdigest()


def verify_payload_digest(secret: str | bytes, body: bytes, digest: str | None, alg: str | None) -> bool:
    """Constant-time check of a webhook; a missing header or an unknown algorithm is a failure."""
    if not digest or alg is None or alg not in DIGEST_ALGORITHMS:
        return False
    return hmac.compare_digest(payload_digest(secret, body, alg), digest.lower())
