"""Verification of Keycloak-issued JWTs against the realm's JWKS, and of whom they were issued to.

A signature only proves that the realm issued the token. Every realm issues tokens to many clients
(``admin-cli``, ``account-console``, service accounts...), so a verifier also names the clients whose
tokens it takes (``azp``), the audience they must carry (``aud``), and whether service accounts may
use them: a token is accepted only where it was meant to be used.

The key set is cached; a token signed with a key id the cache does not know triggers one refresh
(single-flight, and at most once per ``min_refresh_seconds``, so a flood of forged key ids cannot
turn into a flood of requests to Keycloak).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt import PyJWK

from service import clock

__all__ = ["AcceptedTokens", "InvalidToken", "JwksCache", "TokenVerifier", "VerifiedToken"]

# Keycloak names a client's service-account user "service-account-<client id>" and puts the
# client id into its tokens ("client_id" from 25 on, "clientId" before).
SERVICE_ACCOUNT_PREFIX = "service-account-"
SERVICE_ACCOUNT_CLAIMS = ("client_id", "clientId")


class InvalidToken(Exception):
    """The token cannot be trusted, or is not for this route; the message says why (safe to log, never
    contains the token). ``subject`` names whose genuine token it was, when the signature held."""

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    username: str | None
    email: str | None
    realm_roles: frozenset[str]
    client_id: str
    claims: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class AcceptedTokens:
    """Whose access tokens a route takes: issued to one of ``clients`` (the ``azp`` claim), carrying
    ``audience`` in ``aud`` when one is set, and, unless ``service_accounts``, for a person."""

    clients: frozenset[str]
    audience: str | None = None
    service_accounts: bool = True

    def __post_init__(self) -> None:
        if not self.clients:
            raise ValueError("AcceptedTokens needs at least one client id")

    def refusal(self, claims: dict[str, Any]) -> str | None:
        """Why these (verified) claims are not for this route, or None when they are."""
        client = claims.get("azp")
        if not isinstance(client, str) or client not in self.clients:
            return f"token issued to client {client!r}, not to one this API accepts"
        if self.audience is not None:
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
            if self.audience not in audiences:
                return f"token not issued for audience {self.audience!r}"
        if not self.service_accounts and is_service_account(claims):
            return f"a service account's token ({client}) is not a person's login"
        return None


def is_service_account(claims: dict[str, Any]) -> bool:
    username = claims.get("preferred_username")
    return any(name in claims for name in SERVICE_ACCOUNT_CLAIMS) or (
        isinstance(username, str) and username.startswith(SERVICE_ACCOUNT_PREFIX))


class JwksCache:
    def __init__(self, jwks_url: str, http: httpx.AsyncClient, *, max_age: float = 300.0,
                 min_refresh_seconds: float = 5.0) -> None:
        self.jwks_url = jwks_url
        self._http = http
        self._max_age = max_age
        self._min_refresh = min_refresh_seconds
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PyJWK:
        fresh = self._fetched_at is not None and time.monotonic() - self._fetched_at < self._max_age
        if kid in self._keys and fresh:
            return self._keys[kid]
        try:
            await self._refresh(kid)
        except InvalidToken:
            if kid in self._keys:
                return self._keys[kid]  # Keycloak unreachable: a key it published stays good meanwhile
            raise
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidToken(f"unknown signing key id {kid!r}") from None

    async def _refresh(self, wanted_kid: str) -> None:
        async with self._lock:
            if wanted_kid in self._keys and self._fetched_at is not None \
                    and time.monotonic() - self._fetched_at < self._max_age:
                return  # another request refreshed while this one waited
            if self._fetched_at is not None and time.monotonic() - self._fetched_at < self._min_refresh \
                    and wanted_kid not in self._keys:
                return
            try:
                response = await self._http.get(self.jwks_url, timeout=5.0)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                # counts as a fetch: requests do not queue up behind one unreachable Keycloak
                self._fetched_at = time.monotonic() - self._max_age + self._min_refresh
                raise InvalidToken(f"key set unavailable: {type(exc).__name__}") from exc
            keys: dict[str, PyJWK] = {}
            for entry in document.get("keys", []):
                if entry.get("use", "sig") != "sig" or "kid" not in entry:
                    continue
                try:
                    keys[entry["kid"]] = PyJWK(entry)
                except jwt.PyJWTError:
                    continue  # a key type this verifier does not use
            self._keys = keys
            self._fetched_at = time.monotonic()


class TokenVerifier:
    """Checks signature (RS256 only), issuer, type (an access token), expiry, issue and not-before
    times of one realm's tokens, then that they were issued to a client ``accepts`` names."""

    ALGORITHMS = ("RS256",)

    # tokens whose signature and issuer held, with the key that verified them: an operator's client sends
    # the same token with every request, and the RSA check and the decoding were most of a guard's time
    VERIFIED_KEPT = 1024

    def __init__(self, issuer: str, jwks: JwksCache, accepts: AcceptedTokens, *, leeway: float = 5.0) -> None:
        self.issuer = issuer
        self.jwks = jwks
        self.accepts = accepts
        self.leeway = leeway
        self._verified: OrderedDict[str, tuple[str, PyJWK, dict[str, Any]]] = OrderedDict()

    def _check_times(self, claims: dict[str, Any]) -> None:
        """Expiry, issue and not-before times, as PyJWT checks them, but on the service's clock."""
        times: dict[str, float] = {}
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name, 0.0 if name == "nbf" else None)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidToken(f"invalid token: the {name!r} claim is not a number")
            times[name] = float(value)
        now = clock.now().timestamp()
        if times["exp"] <= now - self.leeway:
            raise InvalidToken("token expired")
        if times["iat"] > now + self.leeway or times["nbf"] > now + self.leeway:
            raise InvalidToken("token not valid yet")

    async def _signed_claims(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature and issuer hold. A token verified before is taken again
        while the key that verified it is still in the realm's key set (a key rotated out takes its
        tokens with it); times, type and client are checked on every use, by ``verify``."""
        kept = self._verified.get(token)
        if kept is not None:
            kept_kid, kept_key, kept_claims = kept
            if await self.jwks.key(kept_kid) is kept_key:
                self._verified.move_to_end(token)
                return kept_claims
            del self._verified[token]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") not in self.ALGORITHMS:
            raise InvalidToken(f"algorithm {header.get('alg')!r} not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("token has no key id")
        key = await self.jwks.key(kid)
        try:
            claims = jwt.decode(
                token, key=key, algorithms=list(self.ALGORITHMS), issuer=self.issuer, leeway=self.leeway,
                # "aud" is checked with "azp" below, after the type, so that a refusal names the first reason
                # times are checked below, against the service's clock (a sandbox's, which QA can advance)
                options={"require": ["exp", "iat", "iss", "sub", "typ", "azp"], "verify_aud": False,
                         "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("token from another issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("bad signature") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"token without the {exc.claim!r} claim") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {type(exc).__name__}") from exc
        self._verified[token] = (kid, key, claims)
        if len(self._verified) > self.VERIFIED_KEPT:
            self._verified.popitem(last=False)
        return claims

    async def verify(self, token: str) -> VerifiedToken:
        claims = await self._signed_claims(token)
        self._check_times(claims)
        # Keycloak signs refresh, ID, logout and action tokens with the same key: only "Bearer" is access
        username = claims.get("preferred_username")
        subject = username if isinstance(username, str) and username else str(claims["sub"])
        if claims["typ"] != "Bearer":
            raise InvalidToken(f"a {claims['typ']!r} token is not an access token", subject=subject)
        refusal = self.accepts.refusal(claims)
        if refusal is not None:
            raise InvalidToken(refusal, subject=subject)
        realm_access = claims.get("realm_access")
        roles = realm_access.get("roles", []) if isinstance(realm_access, dict) else []
        if not isinstance(roles, list):
            roles = []
        return VerifiedToken(
            subject=str(claims["sub"]),
            username=claims.get("preferred_username"),
            email=claims.get("email"),
            realm_roles=frozenset(r for r in roles if isinstance(r, str)),
            client_id=str(claims["azp"]),
            claims=dict(claims),  # the kept ones stay as they were verified
        )
