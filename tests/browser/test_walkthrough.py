"""The specification's admin panel walkthrough, steps 1-12, as an operator does it in a browser;
then Sumsub's GREEN review turning the customer approved and then active on the open page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from sim.sandbox import Sandbox
from tests.browser.conftest import Stack, assert_accessible, unique_email


def test_walkthrough_create_verify_activate(operator_page: Page, sandbox: Sandbox, stack: Stack) -> None:
    page = operator_page
    email = unique_email("walk")
    telegram = f"@walk_{email.split('.')[1][:8]}"

    # 1. open the customers list
    page.goto("/admin/customers")
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    assert_accessible(page)
    # 2. click Create
    page.get_by_role("link", name="Create").click()
    # 3. the creation form opens with the email input ready
    expect(page.get_by_role("heading", name="Create a customer")).to_be_visible()
    expect(page.get_by_label("Email")).to_be_focused()
    assert_accessible(page)
    # 4. a unique email; 5. a unique Telegram id
    page.get_by_label("Email").fill(email)
    page.get_by_label("Telegram ID").fill(telegram)
    page.get_by_label("Customer type").select_option(label="Individual")
    # 6. review the details before submitting
    page.get_by_role("button", name="Review").click()
    # 7. the confirmation dialog shows what was entered
    dialog = page.get_by_role("dialog", name="Create this customer?")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-review=email]")).to_have_text(email)
    expect(dialog.locator("[data-review=telegram_id]")).to_have_text(telegram)
    expect(dialog.locator("[data-review=customer_type]")).to_have_text("Individual")
    assert_accessible(page)
    # 8. confirm
    dialog.get_by_role("button", name="Confirm").click()
    # 9. the customer's detail page, with the identity fields
    expect(page).to_have_url(re.compile(r"/admin/customers/C\d+"))
    public_id = page.locator("[data-field=public_id]").inner_text()
    expect(page.locator("[data-field=email]")).to_have_text(email)
    expect(page.locator("[data-field=telegram_id]")).to_have_text(telegram.lstrip("@"))  # stored in its one spelling
    expect(page.locator("[data-field=customer_type]")).to_have_text("Individual")
    expect(page.locator("[data-field=verification_status]")).to_have_text("Pending verification")
    expect(page.locator("[data-field=activity_status]")).to_have_text("Inactive")
    expect(page.locator("[data-field=kyc_level]")).to_have_text("Not KYCed")
    assert_accessible(page)
    # 10. the customer appears in the list views: all, by search, and under its status
    for query in ("", f"?q={public_id}", f"?q={email}", "?status=inactive", "?status=pending"):
        page.goto(f"/admin/customers{query}")
        expect(page.get_by_role("link", name=public_id, exact=True)).to_be_visible()
    page.goto("/admin/customers?status=active")
    expect(page.get_by_role("link", name=public_id, exact=True)).to_have_count(0)
    page.goto("/admin/customers")
    page.get_by_role("link", name=public_id, exact=True).click()

    # 11. the KYC section: generate the verification link
    kyc = page.get_by_role("region", name="KYC")
    kyc.get_by_role("button", name="Generate verification link").click()
    # 12. the link was created, shown with a copy button
    link = page.get_by_label(re.compile("Verification link"))
    expect(link).to_have_value(re.compile(re.escape(sandbox.sumsub_url)))
    kyc.get_by_role("button", name="Copy link").click()
    expect(kyc.get_by_role("status")).to_have_text("Link copied to the clipboard.")
    expect(page.locator("[data-field=kyc_status]")).to_have_text("Pending")
    assert_accessible(page)

    # Sumsub reviews GREEN: the open page turns approved, then active, without a reload
    page.evaluate("window.__same_document = true")
    customer_id = page.locator("dd.mono.small").inner_text()
    applicant_id = stack.call(lambda: sandbox.sumsub.applicant_by_external_user_id(customer_id).id)

    def review() -> None:
        sandbox.sumsub.submit_documents(applicant_id)
        sandbox.sumsub.review(applicant_id, "GREEN")

    stack.call(review)
    expect(page.locator("[data-field=kyc_status]")).to_have_text("Approved")
    expect(page.locator("[data-field=verification_status]")).to_have_text("Verified")
    expect(page.locator("[data-field=activity_status]")).to_have_text("Active", timeout=40_000)
    expect(page.locator("[data-field=kyc_level]")).to_have_text("Basic")
    expect(page.locator("#provisioning [data-step]")).to_have_count(3)
    expect(page.locator("[data-field=balance]")).to_have_text("$0.00 USD")
    expect(page.locator("#callbacks")).to_contain_text("applicantReviewed")
    assert page.evaluate("window.__same_document") is True  # never reloaded
    # nothing can change any more: polling has stopped
    expect(page.locator("#live-poller")).to_have_attribute("data-live", "off")
    assert_accessible(page)

    # and the list shows it active
    page.goto("/admin/customers?status=active")
    expect(page.get_by_role("link", name=public_id, exact=True)).to_be_visible()
