"""The API docs pages render in headless Chromium with the network cut off: every script and style
comes from the service, and none is refused by the pages' Content-Security-Policy."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, async_playwright

from sim.keycloak import KeycloakFake

# Debian's chromium; Playwright never downloads a browser here
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

OPERATIONS = ("createCustomer", "listCustomers", "getCustomer", "createKycLink", "createDeposit",
              "createWithdrawal", "receiveSumsubCallback", "getMyProfile")


@pytest.fixture(scope="module")
async def docs_browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        await browser.close()


class OfflinePage:
    """A page that reaches only the service: every other request is aborted and remembered."""

    def __init__(self, page: Page, service: str) -> None:
        self.page = page
        self.service = service
        self.outside: list[str] = []
        self.refused_by_csp: list[str] = []
        page.on("console", self._console)

    async def _route(self, route: Route) -> None:
        if route.request.url.startswith(self.service):
            await route.continue_()
        else:
            self.outside.append(route.request.url)
            await route.abort("internetdisconnected")

    def _console(self, message: object) -> None:
        text = getattr(message, "text", "")
        if "Content Security Policy" in text:
            self.refused_by_csp.append(text)


@pytest.fixture
async def offline(docs_browser: Browser, api: httpx.AsyncClient) -> AsyncIterator[OfflinePage]:
    context = await docs_browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    offline = OfflinePage(page, str(api.base_url))
    await context.route("**/*", offline._route)
    yield offline
    await context.close()


def _screenshot_path(tmp_path: Path, name: str) -> Path:
    return tmp_path / f"{name}.png"


async def test_swagger_ui_lists_the_operations_offline(offline: OfflinePage, keycloak: KeycloakFake,
                                                      tmp_path: Path) -> None:
    response = await offline.page.goto(f"{offline.service}/schema/swagger")
    assert response is not None
    assert response.status == 200
    assert "script-src 'self'" in (await response.all_headers())["content-security-policy"]
    await offline.page.wait_for_selector(".opblock", timeout=20_000)
    text = await offline.page.inner_text("#swagger-ui")
    await offline.page.screenshot(path=_screenshot_path(tmp_path, "swagger"), full_page=False)
    for operation in OPERATIONS:
        assert operation in text, operation
    assert await offline.page.locator(".opblock").count() >= 15
    assert await offline.page.locator("button.authorize").count() == 1
    # the only calls out are the Authorize button's OpenID discovery, to the identity provider itself
    assert all(url.startswith(keycloak.base_url) and url.endswith("/.well-known/openid-configuration")
               for url in offline.outside), offline.outside
    assert offline.refused_by_csp == []


async def test_scalar_lists_the_operations_offline(offline: OfflinePage, tmp_path: Path) -> None:
    response = await offline.page.goto(f"{offline.service}/schema/scalar")
    assert response is not None
    assert response.status == 200
    summaries = ["Create a customer", "List customers", "Sumsub callback intake",
                 "Deposit into a customer's account", "The logged-in customer's own data"]
    await offline.page.wait_for_function(
        "summaries => summaries.every(s => document.body.innerText.includes(s))", arg=summaries, timeout=20_000)
    await offline.page.screenshot(path=_screenshot_path(tmp_path, "scalar"), full_page=False)
    assert offline.outside == []
    assert offline.refused_by_csp == []
