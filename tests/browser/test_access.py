"""Who may do what in the panel: sign-in and sign-out through Keycloak, expired sessions, the
read-only viewer, CSRF. What is not offered is refused by the server anyway, and audited."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from playwright.sync_api import Page, expect

from service.admin.session import PanelSessions
from service.db.engine import create_engine, session_factory
from sim.sandbox import Sandbox
from sim.scenario import create_customer, get_customer
from tests.browser.conftest import Stack, assert_accessible, sign_in


def api_customer(stack: Stack, sandbox: Sandbox, name: str) -> dict[str, Any]:
    async def create() -> dict[str, Any]:
        async with await sandbox.api() as api:
            return await create_customer(api, name)
    return stack.call(create)


def api_view(stack: Stack, sandbox: Sandbox, customer_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with await sandbox.api() as api:
            return await get_customer(api, customer_id)
    return stack.call(read)


def csrf_token(page: Page) -> str:
    token = page.locator("body").get_attribute("data-csrf-token")
    assert token
    return token


def test_the_viewer_is_offered_no_change_and_is_refused_one_anyway(viewer_page: Page, sandbox: Sandbox,
                                                                   stack: Stack) -> None:
    page = viewer_page
    customer = api_customer(stack, sandbox, "viewed")
    page.goto("/admin/customers")
    expect(page.get_by_role("link", name=customer["public_id"], exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Create")).to_have_count(0)
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    page.goto(f"/admin/customers/{customer['public_id']}")
    expect(page.locator("[data-field=email]")).to_have_text(customer["email"])
    expect(page.get_by_role("button", name="Deactivate")).to_have_count(0)
    expect(page.get_by_role("button", name="Generate verification link")).to_have_count(0)

    token = csrf_token(page)  # a genuine form token: only the permission is missing
    refused = page.request.post(f"/admin/customers/{customer['public_id']}/deactivate",
                                form={"csrf_token": token}, max_redirects=0)
    assert refused.status == 403
    assert "CUSTOMER_UPDATE" in refused.text()
    assert api_view(stack, sandbox, customer["id"])["activity_status"] == "inactive"
    created = page.request.post("/admin/customers", form={
        "csrf_token": token, "email": "viewer.made@example.com", "customer_type": "individual", "confirmed": "yes"},
        max_redirects=0)
    assert created.status == 403
    for path in ("/admin/customers/new", "/admin/audit"):
        page.goto(path)
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert_accessible(page)


def test_a_post_without_the_csrf_token_is_refused(operator_page: Page, sandbox: Sandbox, stack: Stack) -> None:
    page = operator_page
    customer = api_customer(stack, sandbox, "csrf")
    page.goto(f"/admin/customers/{customer['public_id']}")
    target = f"/admin/customers/{customer['public_id']}/deactivate"
    for form in ({}, {"csrf_token": "forged"}, {"csrf_token": csrf_token(page)[:-2] + "xx"}):
        refused = page.request.post(target, form=form, max_redirects=0)
        assert refused.status == 403, form
    assert api_view(stack, sandbox, customer["id"])["activity_status"] == "inactive"
    # the same request with the page's token goes through: the refusals above were the token's
    accepted = page.request.post(target, form={"csrf_token": csrf_token(page)}, max_redirects=0)
    assert accepted.status == 303
    assert api_view(stack, sandbox, customer["id"])["activity_status"] == "suspended"

    page.goto("/admin/audit?subject=operator")
    expect(page.locator("tr", has_text="missing or wrong CSRF token").first).to_contain_text(target)


def expire_sessions_of(stack: Stack, sandbox: Sandbox, username: str) -> int:
    """As if every panel session of ``username`` had sat idle past its timeout."""
    assert sandbox.settings is not None
    secret = sandbox.settings.admin_session_secret
    assert secret

    async def expire() -> int:
        engine = create_engine(sandbox.database_url, 1)
        try:
            return await PanelSessions(session_factory(engine), secret, idle=timedelta(minutes=1),
                                       lifetime=timedelta(hours=1)).expire_all_of(username)
        finally:
            await engine.dispose()
    return stack.call(expire)


def test_an_expired_session_goes_through_sign_in_back_to_the_page_asked_for(
        operator_page: Page, sandbox: Sandbox, stack: Stack) -> None:
    page = operator_page
    customer = api_customer(stack, sandbox, "expired")
    wanted = f"/admin/customers/{customer['public_id']}"
    page.goto(wanted)
    assert expire_sessions_of(stack, sandbox, "operator") >= 1
    sign_ins: list[str] = []
    page.on("request", lambda request: sign_ins.append(request.url) if "/openid-connect/auth" in request.url
            else None)
    page.goto(wanted + "?from=bookmark")
    # Keycloak still knows the operator (single sign-on), so no form: straight back to the page
    expect(page).to_have_url(re.compile(re.escape(wanted) + r"\?from=bookmark$"))
    expect(page.locator("[data-field=email]")).to_have_text(customer["email"])
    assert len(sign_ins) == 1


def test_a_page_polling_when_its_session_expires_signs_in_again_and_comes_back(
        operator_page: Page, sandbox: Sandbox, stack: Stack) -> None:
    page = operator_page
    customer = api_customer(stack, sandbox, "polled")
    page.goto(f"/admin/customers/{customer['public_id']}")
    page.get_by_role("button", name="Generate verification link").click()
    expect(page.locator("#live-poller")).to_have_attribute("data-live", "on")  # KYC pending: the page polls
    page.evaluate("window.__same_document = true")
    with page.expect_navigation():
        expire_sessions_of(stack, sandbox, "operator")
    # the next poll was refused; htmx followed the panel to sign-in, which came back to this page
    expect(page).to_have_url(re.compile(re.escape(f"/admin/customers/{customer['public_id']}") + "$"))
    assert page.evaluate("window.__same_document") is None  # a new document: the page was loaded again
    expect(page.locator("[data-field=kyc_status]")).to_have_text("Pending")


def test_signing_out_ends_the_keycloak_session_too(operator_page: Page, sandbox: Sandbox) -> None:
    page = operator_page
    [panel_cookie] = [c for c in page.context.cookies() if c["name"] == "admin_session"]
    assert (panel_cookie["httpOnly"], panel_cookie["sameSite"], panel_cookie["path"]) == (True, "Lax", "/")
    assert panel_cookie["secure"] is False  # served over plain http here; over https it is Secure
    sso = next(c["value"] for c in page.context.cookies() if c["name"] == "KEYCLOAK_SESSION")
    keycloak_session = sandbox.keycloak.tokens.sessions[sso]
    assert keycloak_session.active
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    assert_accessible(page)
    assert not keycloak_session.active
    # the panel's session is gone: asking for a page needs the Keycloak form again
    page.goto("/admin/customers")
    expect(page.locator("#kc-form-login")).to_be_visible()
    sign_in(page, sandbox.keycloak.operator_username, sandbox.keycloak.operator_password)
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()


def test_the_job_queues_open_from_the_panel_for_an_operator_who_may_read_them(page: Page, sandbox: Sandbox) -> None:
    # without a session the queue UI sends the browser through sign-in, then back to it
    page.goto("/queues/")
    expect(page.locator("#kc-form-login")).to_be_visible()
    page.get_by_label("Username or email").fill(sandbox.keycloak.operator_username)
    page.get_by_label("Password").fill(sandbox.keycloak.operator_password)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/queues/?$"))
    assert sandbox.settings is not None
    queues = page.evaluate("() => fetch('/queues/api/queues').then(r => r.json())")["queues"]
    assert [queue["name"] for queue in queues] == [sandbox.settings.queue_name]
    # the panel links to it, and a change posted from the browser (no CSRF token) is refused
    page.goto("/admin/customers")
    expect(page.get_by_role("link", name="Job queues")).to_have_attribute("href", "/queues/")
    status = page.evaluate(f"() => fetch('/queues/api/queues/{sandbox.settings.queue_name}/jobs/nothing/abort', "
                           "{method: 'POST'}).then(r => r.status)")
    assert status == 403
