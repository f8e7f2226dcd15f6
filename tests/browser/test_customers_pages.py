"""The customer list (filters, search, sort, pages, empty answers), creation refused next to its
field, the forms by keyboard alone, money in and out, and live updates on the list."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from sim.sandbox import Sandbox
from sim.scenario import create_customer, start_kyc
from tests.browser.conftest import Stack, assert_accessible, unique_email
from tests.support.waiting import eventually


def api_customers(stack: Stack, sandbox: Sandbox, names: list[str], customer_type: str = "individual"
                  ) -> list[dict[str, Any]]:
    async def create() -> list[dict[str, Any]]:
        async with await sandbox.api() as api:
            return [await create_customer(api, name, customer_type) for name in names]
    return stack.call(create, timeout=60)


def test_a_duplicate_email_is_refused_next_to_its_field_and_nothing_is_created(
        operator_page: Page, sandbox: Sandbox, stack: Stack) -> None:
    page = operator_page
    [existing] = api_customers(stack, sandbox, ["taken"])
    page.goto("/admin/customers/new")
    page.get_by_label("Email").fill(existing["email"].upper())
    page.get_by_label("Customer type").select_option(label="Bank")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm").click()

    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    expect(page.locator("#email-error")).to_have_text("Another customer already has this email address.")
    expect(page.get_by_label("Customer type")).to_have_value("bank")  # what was typed is kept
    assert_accessible(page)
    page.goto(f"/admin/customers?q={existing['email']}")
    expect(page.locator("tbody tr")).to_have_count(1)

    # an invalid address, and a Telegram id that is not one, each next to its own field
    page.goto("/admin/customers/new")
    page.get_by_label("Email").fill("not-an-address")
    page.get_by_label("Customer type").select_option(label="Individual")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    expect(page.locator("#email-error")).to_contain_text("not a valid email address")
    page.get_by_label("Email").fill(unique_email("tg"))
    page.get_by_label("Telegram ID").fill("no spaces allowed")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    expect(page.locator("#telegram-error")).to_contain_text("Telegram")
    expect(page.get_by_label("Telegram ID")).to_be_focused()

    # a Telegram id another customer has
    taken = f"@taken_{uuid.uuid4().hex[:8]}"
    page.get_by_label("Telegram ID").fill(taken)
    page.get_by_role("button", name="Review").click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    expect(page.locator("[data-field=telegram_id]")).to_have_text(taken.lstrip("@"))  # its one spelling
    page.goto("/admin/customers/new")
    page.get_by_label("Email").fill(unique_email("tg2"))
    page.get_by_label("Telegram ID").fill(taken.upper())
    page.get_by_label("Customer type").select_option(label="Individual")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    expect(page.locator("#telegram-error")).to_have_text("Another customer already has this Telegram ID.")


def test_customers_are_created_and_deactivated_by_keyboard_alone(operator_page: Page) -> None:
    page = operator_page
    email = unique_email("keys")
    page.goto("/admin/customers")
    page.get_by_role("link", name="Create").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Telegram ID")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Customer type")).to_be_focused()
    page.keyboard.type("Private")  # a select takes the option's first letters
    expect(page.get_by_label("Customer type")).to_have_value("private_company")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Review")).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create this customer?")
    expect(dialog.get_by_role("button", name="Confirm")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("[data-field=email]")).to_have_text(email)

    page.get_by_role("button", name="Deactivate").focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("dialog", name=re.compile("Deactivate"))
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()  # the safe choice first
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    page.get_by_role("button", name="Deactivate").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Tab")
    expect(confirm.get_by_role("button", name="Confirm deactivation")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("[data-field=activity_status]")).to_have_text("Suspended")
    expect(page.get_by_role("button", name="Deactivate")).to_have_count(0)


def test_the_list_filters_searches_sorts_and_pages(operator_page: Page, sandbox: Sandbox, stack: Stack) -> None:
    page = operator_page
    batch = f"pg{uuid.uuid4().hex[:6]}"
    made = api_customers(stack, sandbox, [f"{batch}-{n:02d}" for n in range(22)])
    page.goto(f"/admin/customers?q={batch}")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text(made[-1]["public_id"])  # newest first
    page.get_by_role("link", name="Next page →").click()
    expect(rows).to_have_count(2)
    expect(rows.last).to_contain_text(made[0]["public_id"])
    page.get_by_role("link", name="← First page").click()
    expect(rows).to_have_count(20)

    page.get_by_label("Sort by creation date").select_option(label="Oldest first")
    page.get_by_role("button", name="Apply").click()
    expect(rows.first).to_contain_text(made[0]["public_id"])
    assert_accessible(page)

    page.get_by_label("Search").fill(made[5]["public_id"])
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    page.get_by_role("link", name=made[5]["public_id"], exact=True).click()
    expect(page.locator("[data-field=email]")).to_have_text(made[5]["email"])

    page.goto(f"/admin/customers?q={batch}&status=suspended")
    expect(page.get_by_text("No customer matches these filters.")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Clear the filters").click()
    expect(page.get_by_label("Status")).to_have_value("all")


def test_money_moves_on_an_active_account_and_the_list_updates_live(
        operator_page: Page, sandbox: Sandbox, stack: Stack) -> None:
    page = operator_page
    [customer] = api_customers(stack, sandbox, ["money"])

    async def link() -> dict[str, Any]:
        async with await sandbox.api() as api:
            return await start_kyc(api, customer["id"])
    applicant_id = stack.call(link)["applicant_id"]

    page.goto(f"/admin/customers?q={customer['public_id']}")
    row = page.locator("tr", has_text=customer["public_id"])
    expect(row.locator("[data-field=activity]")).to_have_text("Inactive")
    page.evaluate("window.__same_document = true")
    stack.call(lambda: (sandbox.sumsub.submit_documents(applicant_id), sandbox.sumsub.review(applicant_id, "GREEN")))
    expect(row.locator("[data-field=activity]")).to_have_text("Active", timeout=40_000)
    assert page.evaluate("window.__same_document") is True

    row.get_by_role("link", name=customer["public_id"]).click()
    account = page.get_by_role("region", name="Deposit account")
    account.get_by_label("Deposit amount (USD)").fill("125.50")
    account.get_by_role("button", name="Deposit").click()
    expect(account.get_by_role("status")).to_have_text("Deposit of $125.50 posted.")
    expect(account.locator("[data-field=balance]")).to_have_text("$125.50 USD")
    account.get_by_label("Withdrawal amount (USD)").fill("200")
    account.get_by_role("button", name="Withdraw").click()
    expect(account.get_by_role("alert")).to_contain_text("does not cover $200.00. Nothing was posted.")
    expect(account.locator("[data-field=balance]")).to_have_text("$125.50 USD")
    account.get_by_label("Withdrawal amount (USD)").fill("25.50")
    account.get_by_role("button", name="Withdraw").click()
    expect(account.locator("[data-field=balance]")).to_have_text("$100.00 USD")
    expect(account.locator("tbody tr")).to_have_count(2)
    account.get_by_label("Deposit amount (USD)").fill("1.005")
    account.get_by_role("button", name="Deposit").click()
    expect(account.get_by_role("alert")).to_contain_text("at most two decimals")
    assert_accessible(page)


def test_operations_pages(operator_page: Page, sandbox: Sandbox, stack: Stack) -> None:
    page = operator_page
    stranger = str(uuid.uuid4())
    body = json.dumps({"type": "applicantReviewed", "externalUserId": stranger, "applicantId": "nobody",
                       "correlationId": f"orphan-{stranger}", "createdAtMs": "2026-11-25 10:00:00.000",
                       "levelName": "basic-kyc-level", "reviewResult": {"reviewAnswer": "GREEN"}}).encode()
    digest = hmac.new(sandbox.sumsub.webhook_secret.encode(), body, hashlib.sha256).hexdigest()

    async def deliver_and_wait() -> None:
        async with httpx.AsyncClient(base_url=sandbox.service_url) as http:
            sent = await http.post("/webhooks/sumsub", content=body, headers={
                "X-Payload-Digest": digest, "X-Payload-Digest-Alg": "HMAC_SHA256_HEX",
                "content-type": "application/json"})
            assert sent.status_code == 200, sent.text
        async with await sandbox.api() as api:
            await eventually(lambda: api.get("/api/kyc/callbacks", params={"status": "orphan"}),
                             until=lambda r: stranger in r.text, what="the orphan callback")
    stack.call(deliver_and_wait)

    page.goto("/admin/callbacks")
    expect(page.get_by_role("heading", name="Callbacks needing attention")).to_be_visible()
    expect(page.locator("tr", has_text=stranger)).to_contain_text("Orphan")
    assert_accessible(page)
    page.goto("/admin/audit")
    expect(page.locator("tbody tr").first).to_contain_text("AUDIT_READ")
    assert_accessible(page)


def test_a_rejection_shows_its_labels_and_the_moderation_comment_never_the_internal_one(
        operator_page: Page, sandbox: Sandbox, stack: Stack) -> None:
    page = operator_page
    [customer] = api_customers(stack, sandbox, ["rejected"], customer_type="private_company")
    page.goto(f"/admin/customers/{customer['public_id']}")
    page.get_by_role("button", name="Generate verification link").click()
    expect(page.get_by_label(re.compile("Verification link"))).to_have_value(re.compile("websdk"))
    applicant_id = stack.call(lambda: sandbox.sumsub.applicant_by_external_user_id(customer["id"]).id)

    def reject() -> None:
        sandbox.sumsub.submit_documents(applicant_id)
        sandbox.sumsub.review(applicant_id, "RED", labels=["DOCUMENT_PAGE_MISSING", "BAD_PROOF_OF_ADDRESS"],
                              reject_type="RETRY", moderation_comment="The second page of the register is missing.",
                              client_comment="Internal: registry extract looked altered.")
    stack.call(reject)

    kyc = page.get_by_role("region", name="KYC")
    expect(page.locator("[data-field=kyc_status]")).to_have_text("Rejected")
    expect(page.locator("[data-field=verification_status]")).to_have_text("Rejected")
    expect(kyc).to_contain_text("RETRY")
    expect(kyc).to_contain_text("DOCUMENT_PAGE_MISSING")
    expect(kyc).to_contain_text("BAD_PROOF_OF_ADDRESS")
    expect(kyc).to_contain_text("The second page of the register is missing.")
    expect(page.locator("body")).not_to_contain_text("registry extract looked altered")
    expect(page.locator("#callbacks")).to_contain_text("RED")
    # a RETRY: the customer may submit again, so the page keeps watching and a new link is offered
    expect(page.locator("#live-poller")).to_have_attribute("data-live", "on")
    expect(kyc.get_by_role("button", name="Generate verification link")).to_be_visible()
    assert_accessible(page)


def test_a_failing_provisioning_step_shows_its_attempts_and_last_error_until_it_succeeds(
        operator_page: Page, sandbox: Sandbox, stack: Stack) -> None:
    page = operator_page
    [customer] = api_customers(stack, sandbox, ["outage"])

    async def link() -> dict[str, Any]:
        async with await sandbox.api() as api:
            return await start_kyc(api, customer["id"])
    applicant_id = stack.call(link)["applicant_id"]
    page.goto(f"/admin/customers/{customer['public_id']}")

    def review_during_an_outage() -> None:
        # Keycloak's user administration is down for a while; its login and tokens are not
        sandbox.keycloak.faults.outage(8, path=r"^/admin/realms/")
        sandbox.sumsub.submit_documents(applicant_id)
        sandbox.sumsub.review(applicant_id, "GREEN")
    stack.call(review_during_an_outage)

    step = page.locator("#provisioning [data-step=keycloak_user]")
    expect(step).to_contain_text("Pending")
    expect(step.locator(".error-text")).to_contain_text("503")
    expect(page.locator("[data-field=activity_status]")).to_have_text("Inactive")
    expect(page.locator("[data-field=activity_status]")).to_have_text("Active", timeout=45_000)
    expect(step).to_contain_text("Done")
    attempts = int(step.locator("td").nth(2).inner_text())
    assert attempts >= 2
