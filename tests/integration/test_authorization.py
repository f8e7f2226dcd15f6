"""Every operator endpoint refuses without a valid token (401) or the permission (403), and every
decision, either way, lands in the audit log."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.auth.audit import AuditEntry, recent_decisions
from sim.keycloak import KeycloakFake

Client = httpx.AsyncClient
SOME_ID = str(uuid.UUID(int=7))
ENDPOINTS = [
    ("POST", "/api/customers", "CUSTOMER_CREATE"),
    ("GET", "/api/customers", "CUSTOMER_READ"),
    ("GET", f"/api/customers/{SOME_ID}", "CUSTOMER_READ"),
    ("POST", f"/api/customers/{SOME_ID}/deactivate", "CUSTOMER_UPDATE"),
    ("POST", f"/api/customers/{SOME_ID}/kyc-link", "CUSTOMER_UPDATE"),
    ("GET", f"/api/customers/{SOME_ID}/kyc/callbacks", "CUSTOMER_READ"),
    ("GET", "/api/kyc/callbacks", "CUSTOMER_READ"),
    ("GET", f"/api/customers/{SOME_ID}/account", "ACCOUNT_READ"),
    ("POST", f"/api/customers/{SOME_ID}/deposits", "DEPOSIT_CREATE"),
    ("POST", f"/api/customers/{SOME_ID}/withdrawals", "WITHDRAWAL_CREATE"),
    ("GET", "/api/audit", "AUDIT_READ"),
]
ENDPOINT_IDS = [f"{method} {path}" for method, path, _ in ENDPOINTS]


async def call(api: Client, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body: dict[str, Any] = {"email": f"auth.{uuid.uuid4().hex[:8]}@example.com", "customer_type": "individual"}
    if path.endswith(("/deposits", "/withdrawals")):
        body = {"amount_cents": 100}
    return await api.request(method, path, headers=headers, json=body if method == "POST" else None)


async def audited(app: Litestar, response: httpx.Response) -> AuditEntry:
    async with app.state.sessions() as session:
        entries = await recent_decisions(session, request_id=response.headers["x-request-id"])
    assert len(entries) == 1, entries
    return entries[0]


def forged(keycloak: KeycloakFake, **claims: Any) -> str:
    """A well-formed token for the admin realm, signed with a key Keycloak never had."""
    genuine = keycloak.mint_token(keycloak.admin_realm, "operator", client_id=keycloak.operator_client_id)
    header = jwt.get_unverified_header(genuine)
    payload = {**jwt.decode(genuine, options={"verify_signature": False}), **claims}
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(payload, stranger, algorithm="RS256", headers={"kid": header["kid"]})


@pytest.mark.parametrize(("method", "path", "permission"), ENDPOINTS, ids=ENDPOINT_IDS)
async def test_no_token_is_a_401_and_audited(api: Client, app: Litestar, method: str, path: str,
                                             permission: str) -> None:
    response = await call(api, method, path, {})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    entry = await audited(app, response)
    assert (entry.subject, entry.action, entry.decision) == ("anonymous", permission, "denied")
    assert entry.object == path


def _bad_tokens(keycloak: KeycloakFake) -> dict[str, str]:
    now = int(time.time())
    client = keycloak.operator_client_id
    return {
        "expired": keycloak.mint_token(keycloak.admin_realm, "operator", client_id=client, expires_in=-120),
        "badly signed": forged(keycloak),
        "wrong issuer": keycloak.mint_token(keycloak.admin_realm, "operator", client_id=client,
                                            extra_claims={"iss": "http://127.0.0.1:1/realms/admin"}),
        "unsigned": jwt.encode({"sub": "x", "iss": keycloak.base_url + "realms/admin", "exp": now + 60,
                                "iat": now}, key=None, algorithm="none"),
        "garbage": "not.a.jwt",
        "hmac": jwt.encode({"sub": "x", "exp": now + 60, "iat": now}, "a-guessed-shared-secret-of-32-bytes!!",
                           algorithm="HS256"),
    }


@pytest.mark.parametrize(("method", "path", "permission"), ENDPOINTS, ids=ENDPOINT_IDS)
async def test_untrustworthy_tokens_are_401_and_audited(api: Client, app: Litestar, keycloak: KeycloakFake,
                                                        method: str, path: str, permission: str) -> None:
    for why, token in _bad_tokens(keycloak).items():
        response = await call(api, method, path, {"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, why
        entry = await audited(app, response)
        assert (entry.decision, entry.action) == ("denied", permission), why
        assert entry.reason, why


@pytest.mark.parametrize(("method", "path", "permission"), ENDPOINTS, ids=ENDPOINT_IDS)
async def test_a_valid_token_without_the_permission_is_a_403_and_audited(
        api: Client, app: Litestar, keycloak: KeycloakFake, method: str, path: str, permission: str) -> None:
    roleless = keycloak.mint_token(keycloak.admin_realm, "viewer", client_id=keycloak.operator_client_id,
                                   extra_claims={"realm_access": {"roles": []}})
    response = await call(api, method, path, {"Authorization": f"Bearer {roleless}"})
    assert response.status_code == 403
    assert response.json()["permission"] == permission
    entry = await audited(app, response)
    assert (entry.subject, entry.action, entry.decision) == ("viewer", permission, "denied")


async def test_a_viewer_reads_but_cannot_create_or_deactivate(api: Client, app: Litestar,
                                                              as_viewer: dict[str, str]) -> None:
    listed = await api.get("/api/customers", headers=as_viewer)
    assert listed.status_code == 200
    assert (await audited(app, listed)).decision == "allowed"
    for method, path, _ in (ENDPOINTS[0], ENDPOINTS[3]):
        response = await call(api, method, path, as_viewer)
        assert response.status_code == 403
        assert (await audited(app, response)).decision == "denied"


async def test_allowed_calls_are_audited_with_the_operator_as_subject(api: Client, app: Litestar,
                                                                      as_operator: dict[str, str],
                                                                      keycloak: KeycloakFake) -> None:
    response = await call(api, "POST", "/api/customers", as_operator)
    assert response.status_code == 201
    entry = await audited(app, response)
    assert (entry.subject, entry.action, entry.decision) == (keycloak.operator_username, "CUSTOMER_CREATE",
                                                             "allowed")


async def test_the_audit_log_cannot_be_rewritten_or_erased(app: Litestar, api: Client) -> None:
    await call(api, "GET", "/api/customers", {})
    for statement in ("UPDATE audit_log SET decision = 'allowed'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        async with app.state.sessions() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(statement))


def test_every_route_states_its_permission_or_is_declared_public(app: Litestar) -> None:
    undeclared = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.http_methods == {"OPTIONS"}:
                continue  # Litestar's automatic CORS preflight answer
            guards = [g for layer in handler.ownership_layers for g in (layer.guards or [])]
            permissions = [g.permission for g in guards if hasattr(g, "permission")]
            public = handler.opt.get("public") or route.path.startswith("/schema")
            if not permissions and not public:
                undeclared.append(f"{sorted(handler.http_methods)} {route.path}")
    assert undeclared == []


async def test_operators_read_the_audit_log_and_viewers_cannot(api: Client, as_operator: dict[str, str],
                                                               as_viewer: dict[str, str]) -> None:
    refused = await api.get("/api/audit", headers=as_viewer)
    assert refused.status_code == 403
    entries = (await api.get("/api/audit", params={"subject": "viewer", "limit": 5}, headers=as_operator)).json()
    assert entries[0]["action"] == "AUDIT_READ"
    assert entries[0]["decision"] == "denied"
    assert {e["subject"] for e in entries} == {"viewer"}
