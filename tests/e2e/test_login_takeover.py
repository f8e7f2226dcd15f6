"""Account takeover by attribute, tried on the sandbox: a customer-realm user who claims another
customer's ``customer_id`` never gets that customer's login or data."""

from __future__ import annotations

import uuid

import httpx

from sim.keycloak import User
from sim.sandbox import Sandbox
from sim.scenario import create_customer, keycloak_users_of, start_kyc, wait_for_customer, wait_for_failed_attempt


async def mallory(sandbox: Sandbox) -> tuple[User, str]:
    """Someone with a login of their own in the customer realm, and its portal token."""
    kc = sandbox.keycloak
    realm = kc.realm(kc.customer_realm)
    email = f"mallory.{uuid.uuid4().hex[:8]}@example.com"
    user = realm.create_user({"username": email, "email": email, "enabled": True, "emailVerified": True})
    realm.set_password(user, "Mallory-Passw0rd", temporary=False)
    async with httpx.AsyncClient(base_url=sandbox.keycloak_url) as http:
        answer = await http.post(f"realms/{kc.customer_realm}/protocol/openid-connect/token", data={
            "grant_type": "password", "client_id": kc.portal_client_id, "username": email,
            "password": "Mallory-Passw0rd"})
    answer.raise_for_status()
    return user, str(answer.json()["access_token"])


async def approve(sandbox: Sandbox, operator: httpx.AsyncClient, customer_id: str) -> None:
    applicant_id = (await start_kyc(operator, customer_id))["applicant_id"]
    sandbox.sumsub.submit_documents(applicant_id)
    sandbox.sumsub.review(applicant_id, "GREEN")


async def test_a_user_cannot_claim_a_customer_through_the_account_api(sandbox: Sandbox,
                                                                      operator: httpx.AsyncClient) -> None:
    victim = await create_customer(operator, "victim")
    user, token = await mallory(sandbox)
    async with httpx.AsyncClient(base_url=sandbox.keycloak_url,
                                 headers={"Authorization": f"Bearer {token}"}) as account:
        own = (await account.get(f"realms/{sandbox.keycloak.customer_realm}/account/")).json()
        claimed = await account.post(f"realms/{sandbox.keycloak.customer_realm}/account/",
                                     json={**own, "attributes": {"customer_id": [victim["id"]]}})
    assert claimed.status_code == 400
    assert "customer_id" not in user.attributes

    await approve(sandbox, operator, victim["id"])
    await wait_for_customer(operator, victim["id"], status="active", timeout=40)
    (login,) = keycloak_users_of(sandbox.keycloak, victim["id"])
    assert login.username == victim["email"]
    async with httpx.AsyncClient(base_url=sandbox.service_url) as portal:
        refused = await portal.get("/portal/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_a_customer"


async def test_a_user_carrying_a_customers_id_is_not_adopted_and_operators_see_why(
        sandbox: Sandbox, operator: httpx.AsyncClient) -> None:
    victim = await create_customer(operator, "victim")
    user, token = await mallory(sandbox)
    # how a realm whose user profile leaves customer_id to its users (or an administrator's slip) ends
    user.attributes["customer_id"] = [victim["id"]]

    await approve(sandbox, operator, victim["id"])
    shown = await wait_for_failed_attempt(operator, victim["id"], "keycloak_user", timeout=40)
    step = shown["provisioning"]["keycloak_user"]
    assert step["status"] != "done"
    assert "not adopted" in step["last_error"]
    assert user.id in step["last_error"]
    assert shown["activity_status"] == "inactive"
    async with httpx.AsyncClient(base_url=sandbox.service_url) as portal:
        refused = await portal.get("/portal/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403

    # the administrator takes the attribute away: provisioning goes on with the customer's own user
    del user.attributes["customer_id"]
    await wait_for_customer(operator, victim["id"], status="active", timeout=60)
    (login,) = keycloak_users_of(sandbox.keycloak, victim["id"])
    assert login.username == victim["email"]
    assert login.id != user.id
