"""The verifier keeps the tokens whose signature held, and never longer than the key that signed them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from service.auth.tokens import AcceptedTokens, InvalidToken, JwksCache, TokenVerifier
from service.clock import use_clock

ISSUER = "http://keycloak.test/realms/admin"
JWKS_URL = f"{ISSUER}/protocol/openid-connect/certs"
CLIENT = "operator-panel"


class Realm:
    """Signing keys by key id, and the key set it publishes (which of them, as a JWKS endpoint answers)."""

    def __init__(self) -> None:
        self.keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("a", "b")}
        self.published = ["a"]
        self.fetches = 0

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        keys = [{**json.loads(RSAAlgorithm.to_jwk(self.keys[kid].public_key())), "kid": kid, "use": "sig",
                 "alg": "RS256"} for kid in self.published]
        return httpx.Response(200, json={"keys": keys})

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "sub": "operator-1", "typ": "Bearer", "azp": CLIENT, "iat": now, "exp": now + 300,
                "preferred_username": "operator", **claims}
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def realm() -> Realm:
    return Realm()


@pytest.fixture
def verifier(realm: Realm) -> TokenVerifier:
    http = httpx.AsyncClient(transport=httpx.MockTransport(realm.answer))
    return TokenVerifier(ISSUER, JwksCache(JWKS_URL, http, min_refresh_seconds=0.0),
                         AcceptedTokens(frozenset({CLIENT})))


async def test_a_token_seen_before_is_not_checked_again(realm: Realm, verifier: TokenVerifier,
                                                        jwt_decodes: list[str]) -> None:
    token = realm.token("a")
    first, second = await verifier.verify(token), await verifier.verify(token)
    assert first == second
    assert first.subject == "operator-1"
    assert jwt_decodes == [token]
    other = realm.token("a", sub="operator-2")
    assert (await verifier.verify(other)).subject == "operator-2"
    assert jwt_decodes == [token, other]


async def test_a_kept_token_goes_with_the_key_that_signed_it(realm: Realm, verifier: TokenVerifier) -> None:
    token = realm.token("a")
    await verifier.verify(token)
    realm.published = ["b"]  # the realm rotates its key; a token signed with the new one makes the verifier look
    await verifier.verify(realm.token("b"))
    with pytest.raises(InvalidToken, match="unknown signing key id 'a'"):
        await verifier.verify(token)


async def test_a_kept_token_still_expires_on_the_services_clock(realm: Realm, verifier: TokenVerifier) -> None:
    token = realm.token("a")
    await verifier.verify(token)
    remove = use_clock(lambda: datetime.fromtimestamp(time.time() + 3600, UTC))
    try:
        with pytest.raises(InvalidToken, match="token expired"):
            await verifier.verify(token)
    finally:
        remove()


async def test_a_token_refused_is_refused_again_and_not_kept(realm: Realm, verifier: TokenVerifier,
                                                              jwt_decodes: list[str]) -> None:
    forged = realm.token("a")[:-4] + "AAAA"
    for _ in range(2):
        with pytest.raises(InvalidToken, match="bad signature"):
            await verifier.verify(forged)
    assert jwt_decodes == [forged, forged]
    wrong_client = realm.token("a", azp="admin-cli")  # the signature holds; the client is checked every time
    for _ in range(2):
        with pytest.raises(InvalidToken, match="admin-cli"):
            await verifier.verify(wrong_client)


async def test_the_kept_tokens_are_bounded(realm: Realm, verifier: TokenVerifier, jwt_decodes: list[str]) -> None:
    verifier.VERIFIED_KEPT = 2
    tokens = [realm.token("a", sub=f"operator-{n}") for n in range(3)]
    for token in tokens:
        await verifier.verify(token)
    await verifier.verify(tokens[0])  # the oldest was let go: checked again
    await verifier.verify(tokens[2])  # the newest is still kept
    assert jwt_decodes == [*tokens, tokens[0]]
