"""A token is accepted only where it was meant to be used.

Both realms sign tokens for many clients (``admin-cli``, the account console, service accounts), and
refresh and ID tokens with the same key as access tokens. Operator endpoints take only access tokens
issued to an operator client and naming the service's audience; ``/portal/*`` takes only a person's
token from the portal client. Each refusal is a 401 (or 403), and the audit log holds the request's
final decision.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import update

from service.auth.audit import AuditEntry, recent_decisions
from service.auth.tokens import AcceptedTokens, InvalidToken, TokenVerifier
from service.clock import use_clock
from service.db.models import CustomerRecord
from sim.keycloak import KeycloakFake

from .test_authorization import ENDPOINT_IDS, ENDPOINTS, call

Client = httpx.AsyncClient


async def audited(app: Litestar, response: httpx.Response) -> AuditEntry:
    async with app.state.sessions() as session:
        entries = await recent_decisions(session, request_id=response.headers["x-request-id"])
    assert len(entries) == 1, entries
    return entries[0]


async def token_endpoint(keycloak: KeycloakFake, realm: str, **form: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=keycloak.base_url or "") as http:
        response = await http.post(f"realms/{realm}/protocol/openid-connect/token", data=form)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def operator_grant(keycloak: KeycloakFake, client_id: str) -> dict[str, Any]:
    return await token_endpoint(keycloak, keycloak.admin_realm, grant_type="password", client_id=client_id,
                                username=keycloak.operator_username, password=keycloak.operator_password,
                                scope="openid")


async def service_account_token(keycloak: KeycloakFake) -> str:
    """The service's own machine account in the customer realm, by the client-credentials grant."""
    answer = await token_endpoint(keycloak, keycloak.customer_realm, grant_type="client_credentials",
                                  client_id=keycloak.service_client_id, client_secret=keycloak.service_client_secret)
    return str(answer["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# operator endpoints
@pytest.mark.parametrize(("method", "path", "permission"), ENDPOINTS, ids=ENDPOINT_IDS)
async def test_the_operators_password_through_admin_cli_opens_no_operator_endpoint(
        api: Client, app: Litestar, keycloak: KeycloakFake, method: str, path: str, permission: str) -> None:
    token = (await operator_grant(keycloak, "admin-cli"))["access_token"]
    response = await call(api, method, path, bearer(token))
    assert response.status_code == 401
    entry = await audited(app, response)
    assert (entry.action, entry.decision) == (permission, "denied")
    assert "admin-cli" in (entry.reason or "")


async def wrong_tokens_for_operators(keycloak: KeycloakFake) -> dict[str, str]:
    panel = keycloak.operator_client_id
    now = int(time.time())
    grant = await operator_grant(keycloak, panel)

    def minted(client_id: str = panel, **claims: Any) -> str:
        return keycloak.mint_token(keycloak.admin_realm, keycloak.operator_username, client_id=client_id,
                                   extra_claims=claims)

    return {
        "another client of the admin realm": minted("account-console"),
        "the admin console's client": minted("security-admin-console"),
        "no azp": minted(azp=None),
        "the panel's client without the service's audience": minted(aud=["account", "realm-management"]),
        "no audience": minted(aud=None),
        "a refresh token": grant["refresh_token"],
        "an ID token": grant["id_token"],
        "no typ": minted(typ=None),
        "not valid before a minute from now": minted(nbf=now + 60),
        "issued a minute from now": minted(iat=now + 60),
        "the customer realm's service account": await service_account_token(keycloak),
    }


async def test_tokens_of_other_clients_kinds_or_realms_are_refused_on_operator_endpoints(
        api: Client, app: Litestar, keycloak: KeycloakFake) -> None:
    for why, token in (await wrong_tokens_for_operators(keycloak)).items():
        response = await api.get("/api/customers", headers=bearer(token))
        assert response.status_code == 401, why
        assert response.headers["www-authenticate"].startswith("Bearer"), why
        entry = await audited(app, response)
        assert (entry.action, entry.decision) == ("CUSTOMER_READ", "denied"), why
        assert entry.reason, why


async def test_the_admin_panels_own_token_is_still_accepted(api: Client, app: Litestar,
                                                            keycloak: KeycloakFake) -> None:
    token = (await operator_grant(keycloak, keycloak.operator_client_id))["access_token"]
    response = await api.get("/api/customers", headers=bearer(token))
    assert response.status_code == 200
    assert (await audited(app, response)).decision == "allowed"


async def test_without_a_configured_audience_the_client_still_decides(app: Litestar, keycloak: KeycloakFake) -> None:
    configured: TokenVerifier = app.state.operator_tokens
    no_audience = TokenVerifier(configured.issuer, configured.jwks,
                                AcceptedTokens(frozenset({keycloak.operator_client_id})))
    panel = keycloak.mint_token(keycloak.admin_realm, keycloak.operator_username,
                                client_id=keycloak.operator_client_id, extra_claims={"aud": "account"})
    assert (await no_audience.verify(panel)).client_id == keycloak.operator_client_id
    with pytest.raises(InvalidToken, match="admin-cli"):
        await no_audience.verify((await operator_grant(keycloak, "admin-cli"))["access_token"])


async def test_token_times_are_read_on_the_services_clock(api: Client, keycloak: KeycloakFake) -> None:
    """A sandbox's clock, advanced an hour: a token issued on it is valid, one from before has expired."""
    now = int(time.time())

    def minted(iat: int) -> str:
        return keycloak.mint_token(keycloak.admin_realm, keycloak.operator_username,
                                   client_id=keycloak.operator_client_id, extra_claims={"iat": iat, "exp": iat + 300})

    async def answer(token: str) -> tuple[int, str]:
        response = await api.get("/api/customers", headers=bearer(token))
        return response.status_code, response.json().get("detail", "") if response.status_code == 401 else ""

    issued_before, issued_after = minted(now), minted(now + 3600)
    assert await answer(issued_before) == (200, "")
    remove = use_clock(lambda: datetime.fromtimestamp(now + 3600, UTC))
    try:
        assert await answer(issued_after) == (200, "")
        assert await answer(issued_before) == (401, "the bearer token was refused: token expired")
    finally:
        remove()
    assert await answer(issued_after) == (401, "the bearer token was refused: token not valid yet")


# the portal
def customer_login(keycloak: KeycloakFake) -> tuple[str, str]:
    """A person in the customer realm with a password of their own: (user id, email)."""
    realm = keycloak.realm(keycloak.customer_realm)
    email = f"portal.{uuid.uuid4().hex[:10]}@example.com"
    user = realm.create_user({"username": email, "email": email, "enabled": True, "emailVerified": True})
    realm.set_password(user, "Portal-Passw0rd", temporary=False)
    return user.id, email


async def portal_grant(keycloak: KeycloakFake, email: str, client_id: str | None = None) -> dict[str, Any]:
    return await token_endpoint(keycloak, keycloak.customer_realm, grant_type="password",
                                client_id=client_id or keycloak.portal_client_id, username=email,
                                password="Portal-Passw0rd", scope="openid")


async def provisioned_customer(api: Client, app: Litestar, keycloak: KeycloakFake,
                               as_operator: dict[str, str]) -> tuple[str, str]:
    """A customer whose login provisioning has made: (customer id, email)."""
    user_id, email = customer_login(keycloak)
    created = await api.post("/api/customers", headers=as_operator,
                              json={"email": email, "customer_type": "individual"})
    assert created.status_code == 201, created.text
    async with app.state.sessions.begin() as session:  # as the Keycloak user step records it
        await session.execute(update(CustomerRecord).where(CustomerRecord.id == uuid.UUID(created.json()["id"]))
                              .values(keycloak_user_id=user_id))
    return created.json()["id"], email


async def test_a_customer_reads_their_own_data_and_it_is_audited_as_allowed(
        api: Client, app: Litestar, keycloak: KeycloakFake, as_operator: dict[str, str]) -> None:
    customer_id, email = await provisioned_customer(api, app, keycloak, as_operator)
    token = (await portal_grant(keycloak, email))["access_token"]
    response = await api.get("/portal/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["customer"]["id"] == customer_id
    entry = await audited(app, response)
    assert (entry.subject, entry.action, entry.decision) == (email, "CUSTOMER_SELF", "allowed")


async def test_the_services_machine_account_is_refused_by_the_portal_and_audited_as_denied(
        api: Client, app: Litestar, keycloak: KeycloakFake) -> None:
    response = await api.get("/portal/me", headers=bearer(await service_account_token(keycloak)))
    assert response.status_code == 401
    entry = await audited(app, response)
    assert (entry.subject, entry.decision) == (f"service-account-{keycloak.service_client_id}", "denied")
    assert keycloak.service_client_id in (entry.reason or "")


async def test_tokens_not_from_the_portal_client_for_a_person_are_refused_by_the_portal(
        api: Client, app: Litestar, keycloak: KeycloakFake, as_operator: dict[str, str],
        operator_token: str) -> None:
    _, email = await provisioned_customer(api, app, keycloak, as_operator)
    grant = await portal_grant(keycloak, email)
    wrong = {
        "the customer's password through admin-cli": (await portal_grant(keycloak, email, "admin-cli"))["access_token"],
        "a refresh token": grant["refresh_token"],
        "an ID token": grant["id_token"],
        "an operator's token": operator_token,
        "the portal client's token as a service account would carry it": keycloak.mint_token(
            keycloak.customer_realm, email, client_id=keycloak.portal_client_id,
            extra_claims={"client_id": keycloak.portal_client_id}),
    }
    for why, token in wrong.items():
        response = await api.get("/portal/me", headers=bearer(token))
        assert response.status_code == 401, why
        assert (await audited(app, response)).decision == "denied", why


async def test_a_login_of_no_customer_is_403_and_audited_as_denied(api: Client, app: Litestar,
                                                                  keycloak: KeycloakFake) -> None:
    _, email = customer_login(keycloak)
    response = await api.get("/portal/me", headers=bearer((await portal_grant(keycloak, email))["access_token"]))
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_customer"
    entry = await audited(app, response)
    assert (entry.subject, entry.decision, entry.reason) == (email, "denied", "this login belongs to no customer")


async def test_a_suspended_customer_is_403_and_audited_as_denied(
        api: Client, app: Litestar, keycloak: KeycloakFake, as_operator: dict[str, str]) -> None:
    customer_id, email = await provisioned_customer(api, app, keycloak, as_operator)
    token = (await portal_grant(keycloak, email))["access_token"]
    assert (await api.post(f"/api/customers/{customer_id}/deactivate", headers=as_operator)).status_code == 200
    response = await api.get("/portal/me", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["code"] == "customer_suspended"
    assert (await audited(app, response)).decision == "denied"
