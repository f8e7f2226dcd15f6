"""Whole lifecycles on the sandbox: create → KYC link → Sumsub review → signed webhooks →
provisioning → active, then the customer logs in to the portal as a person would."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.customers.domain import CustomerType
from sim.network import Match
from sim.portal_login import log_in_through_login_page
from sim.sandbox import Sandbox
from sim.scenario import create_customer, keycloak_users_of, start_kyc, wait_for_customer
from tests.support.waiting import eventually


async def test_an_approved_customer_is_provisioned_once_and_can_use_the_portal(
        sandbox: Sandbox, operator: httpx.AsyncClient) -> None:
    customer = await create_customer(operator, "e2e")
    link = await start_kyc(operator, customer["id"])
    assert link["url"].startswith(sandbox.sumsub_url)
    applicant_id = link["applicant_id"]
    sandbox.sumsub.submit_documents(applicant_id)
    sandbox.sumsub.review(applicant_id, "GREEN")

    shown = await wait_for_customer(operator, customer["id"], status="active", timeout=40)
    assert (shown["kyc_status"], shown["verification_status"], shown["kyc_level"]) == ("approved", "verified", "basic")
    assert shown["eligible_for_credit_facility"] is True
    assert {step: state["status"] for step, state in shown["provisioning"].items()} == {
        "keycloak_user": "done", "welcome_email": "done", "deposit_account": "done"}
    assert len(keycloak_users_of(sandbox.keycloak, customer["id"])) == 1
    account = (await operator.get(f"/api/customers/{customer['id']}/account")).json()
    assert (account["currency"], account["balance_cents"], account["account_set"]) == (
        "USD", 0, "deposit-individual-account-set")

    email = await sandbox.smtp.wait_for(to=customer["email"], subject="Welcome", timeout=10)
    assert len(sandbox.smtp.search(to=customer["email"])) == 1
    password = email.extract_password()
    assert password
    assert password in email.text
    assert customer["email"] in email.text

    login = await log_in_through_login_page(sandbox.keycloak_url, sandbox.keycloak.customer_realm,
                                            sandbox.keycloak.portal_client_id, customer["email"], password,
                                            new_password="A-new-Passw0rd!")
    assert login.changed_password
    async with httpx.AsyncClient(base_url=sandbox.service_url) as portal:
        me = await portal.get("/portal/me", headers={"Authorization": f"Bearer {login.access_token}"})
        assert me.status_code == 200, me.text
        assert me.json()["customer"]["id"] == customer["id"]
        assert me.json()["deposit_account"]["balance_cents"] == 0
        operator_token = operator.headers["Authorization"]
        refused = await portal.get("/portal/me", headers={"Authorization": operator_token})
        assert refused.status_code == 401


async def one_of_everything(sandbox: Sandbox, operator: httpx.AsyncClient, customer: dict[str, Any]) -> None:
    shown = await wait_for_customer(operator, customer["id"], status="active", timeout=40)
    assert shown["kyc_status"] == "approved"
    assert len(keycloak_users_of(sandbox.keycloak, customer["id"])) == 1
    await sandbox.smtp.wait_for(to=customer["email"], timeout=10)
    assert len(sandbox.smtp.search(to=customer["email"])) == 1
    account = (await operator.get(f"/api/customers/{customer['id']}/account")).json()
    assert account["account_set"] == f"deposit-{customer['customer_type'].replace('_', '-')}-account-set"


async def test_every_webhook_delivered_three_times_gives_one_of_everything(
        sandbox: Sandbox, operator: httpx.AsyncClient) -> None:
    customer = await create_customer(operator, "e2e", "private_company")
    mine = Match(external_user_id=customer["id"])
    rule = sandbox.network.duplicate(2, match=mine, count=None)
    applicant_id = (await start_kyc(operator, customer["id"]))["applicant_id"]
    sandbox.sumsub.submit_documents(applicant_id)
    sandbox.sumsub.review(applicant_id, "GREEN")
    await one_of_everything(sandbox, operator, customer)
    rule.cancel()
    arrived = sandbox.network.arrivals(match=mine)
    assert len(arrived) == 9  # created, pending, reviewed: each three times


async def test_webhooks_released_newest_first_give_one_of_everything(sandbox: Sandbox,
                                                                       operator: httpx.AsyncClient) -> None:
    customer = await create_customer(operator, "e2e", "bank")
    mine = Match(external_user_id=customer["id"])
    sandbox.network.hold(match=mine)
    applicant_id = (await start_kyc(operator, customer["id"]))["applicant_id"]
    sandbox.sumsub.submit_documents(applicant_id)
    sandbox.sumsub.review(applicant_id, "GREEN")

    async def held() -> int:
        return sum(1 for h in sandbox.network.held if mine(h.message))
    await eventually(held, until=lambda n: n == 3, what="created, pending and reviewed held")
    released = await sandbox.network.release("reversed")
    assert [m.event_type for m in released] == ["applicantReviewed", "applicantPending", "applicantCreated"]
    await one_of_everything(sandbox, operator, customer)


async def test_keycloak_down_for_a_while_then_back_gives_one_user(sandbox: Sandbox,
                                                                   operator: httpx.AsyncClient) -> None:
    customer = await create_customer(operator, "e2e")
    applicant_id = (await start_kyc(operator, customer["id"]))["applicant_id"]
    outage = sandbox.keycloak.faults.outage(path="/admin/")  # until a failed attempt is seen
    sandbox.sumsub.review(applicant_id, "GREEN")

    async def keycloak_step() -> dict[str, Any]:
        shown = (await operator.get(f"/api/customers/{customer['id']}")).json()
        return dict(shown["provisioning"].get("keycloak_user") or {})
    failing = await eventually(keycloak_step, until=lambda s: s.get("attempts", 0) >= 1 and bool(s.get("last_error")),
                               what="a failed Keycloak attempt recorded")
    assert failing["status"] == "pending"
    sandbox.keycloak.faults.rules.remove(outage)
    shown = await wait_for_customer(operator, customer["id"], status="active", timeout=40)
    assert shown["provisioning"]["keycloak_user"]["attempts"] >= 2
    assert len(keycloak_users_of(sandbox.keycloak, customer["id"])) == 1
    assert any(f.status == 503 for f in sandbox.keycloak.faults.journal)


async def test_smtp_answering_451_is_retried_and_one_email_arrives(sandbox: Sandbox,
                                                                    operator: httpx.AsyncClient) -> None:
    customer = await create_customer(operator, "e2e")
    applicant_id = (await start_kyc(operator, customer["id"]))["applicant_id"]
    sandbox.smtp.faults.fail_next(2, code=451, stage="RCPT")
    sandbox.sumsub.review(applicant_id, "GREEN")
    shown = await wait_for_customer(operator, customer["id"], status="active", timeout=40)
    assert shown["provisioning"]["welcome_email"]["attempts"] >= 3
    assert len(sandbox.smtp.search(to=customer["email"])) == 1


@pytest.mark.parametrize("customer_type", [t.value for t in CustomerType])
async def test_every_customer_type_gets_its_account_set(sandbox: Sandbox, operator: httpx.AsyncClient,
                                                        customer_type: str) -> None:
    customer = await create_customer(operator, "e2e", customer_type)
    applicant_id = (await start_kyc(operator, customer["id"]))["applicant_id"]
    sandbox.sumsub.review(applicant_id, "GREEN")
    await wait_for_customer(operator, customer["id"], status="active", timeout=40)
    account = (await operator.get(f"/api/customers/{customer['id']}/account")).json()
    assert account["account_set"] == f"deposit-{customer_type.replace('_', '-')}-account-set"


async def test_a_newer_red_after_approval_suspends_disables_the_login_and_freezes_the_account(
        sandbox: Sandbox, operator: httpx.AsyncClient) -> None:
    customer = await create_customer(operator, "e2e")
    applicant_id = (await start_kyc(operator, customer["id"]))["applicant_id"]
    sandbox.sumsub.review(applicant_id, "GREEN")
    await wait_for_customer(operator, customer["id"], status="active", timeout=40)
    sandbox.sumsub.review(applicant_id, "RED", labels=["FORGERY"], reject_type="FINAL")

    async def probe() -> dict[str, Any]:
        return dict((await operator.get(f"/api/customers/{customer['id']}")).json())
    shown = await eventually(probe, until=lambda c: c["provisioning"].get("deposit_frozen", {}).get("status") == "done"
                             and c["provisioning"].get("keycloak_disabled", {}).get("status") == "done",
                             what="login disabled and account frozen")
    assert (shown["kyc_status"], shown["activity_status"]) == ("rejected", "suspended")
    assert [u.enabled for u in keycloak_users_of(sandbox.keycloak, customer["id"])] == [False]
    account = (await operator.get(f"/api/customers/{customer['id']}/account")).json()
    assert account["status"] == "frozen"


async def test_deactivated_while_provisioning_waits_for_keycloak_ends_with_no_usable_login_or_account(
        sandbox: Sandbox, operator: httpx.AsyncClient) -> None:
    customer = await create_customer(operator, "e2e")
    applicant_id = (await start_kyc(operator, customer["id"]))["applicant_id"]
    outage = sandbox.keycloak.faults.outage(path="/admin/")
    sandbox.sumsub.review(applicant_id, "GREEN")

    async def probe() -> dict[str, Any]:
        return dict((await operator.get(f"/api/customers/{customer['id']}")).json())
    await eventually(probe, until=lambda c: c["provisioning"].get("keycloak_user", {}).get("attempts", 0) >= 1,
                     what="the Keycloak step failing during the outage")
    deactivated = await operator.post(f"/api/customers/{customer['id']}/deactivate")
    assert deactivated.status_code == 200
    sandbox.keycloak.faults.rules.remove(outage)

    # the Keycloak step may have made the user before the suspension (done) or not at all (skipped)
    settled = await eventually(probe, until=lambda c: c["provisioning"].get("keycloak_user", {}).get("status")
        in ("done", "skipped") and all(c["provisioning"].get(step, {}).get("status") == "done"
                                       for step in ("deposit_account", "keycloak_disabled", "deposit_frozen")),
        timeout=40, what="provisioning and suspension settled")
    assert settled["activity_status"] == "suspended"
    assert all(not user.enabled for user in keycloak_users_of(sandbox.keycloak, customer["id"]))
    account = (await operator.get(f"/api/customers/{customer['id']}/account")).json()
    assert account["status"] == "frozen"
    assert sandbox.smtp.search(to=customer["email"]) == []
