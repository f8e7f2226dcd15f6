"""The admin panel in a real browser: Debian's Chromium driven by Playwright, against one sandbox.

Playwright's sync API runs its own loop in the test's thread, so the sandbox (fakes, API and worker
on real sockets) runs on an event loop of its own in a background thread; ``stack.call`` runs code
there. The browser is the machine's (``CHROMIUM_PATH``, default ``/usr/bin/chromium``); nothing is
downloaded. A failing test leaves a screenshot under ``test-results/browser/``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from sim.sandbox import Sandbox
from tests.support.databases import scratch_database

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
ANY_PORT = {"service": 0, "keycloak": 0, "sumsub": 0, "smtp": 0, "smtp_api": 0}
LAPTOP = {"width": 1366, "height": 800}
TIMEOUT_MS = 15_000


def pytest_configure(config: pytest.Config) -> None:
    # screenshots of failing tests are kept, in a folder git ignores (unless the command line says otherwise)
    if config.getoption("--screenshot", default="off") == "off":
        config.option.screenshot = "only-on-failure"
    if config.getoption("--output", default="test-results") == "test-results":
        config.option.output = str(ROOT / "test-results" / "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Playwright's sync API leaves its event loop marked as running in the main thread from its first
    # use to the end of the session, and no asyncio test can run after that: the tests that use it (its
    # ``page`` fixture) go last; a browser test on Playwright's async API runs in place
    items.sort(key=lambda item: "page" in getattr(item, "fixturenames", ()))  # stable: the order is otherwise kept


class Stack:
    """A sandbox on its own event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.sandbox: Sandbox | None = None
        self._stop: asyncio.Event | None = None
        self._ready: Future[Sandbox] = Future()
        self._thread = threading.Thread(target=self._run, name="browser-sandbox", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with scratch_database("browser") as url, Sandbox(
                seed=12, database_url=url, queue_url=os.environ.get("QUEUE_URL"), ports=ANY_PORT,
                queue_name=f"browser-{uuid.uuid4().hex[:8]}",
            ) as sandbox:
                self._ready.set_result(sandbox)
                await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def start(self) -> Sandbox:
        self._thread.start()
        self.sandbox = self._ready.result(timeout=120)
        return self.sandbox

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)

    def call(self, work: Callable[[], Awaitable[T]] | Callable[[], T], timeout: float = 30) -> T:
        """Run ``work`` (a coroutine function or a plain one) on the sandbox's loop; its result."""
        async def run() -> T:
            result = work()
            if asyncio.iscoroutine(result):
                return await result  # type: ignore[no-any-return]
            return result  # type: ignore[return-value]
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    running = Stack()
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def sandbox(stack: Stack) -> Sandbox:
    assert stack.sandbox is not None
    return stack.sandbox


@pytest.fixture(scope="session")
def base_url(sandbox: Sandbox) -> str:
    # overrides pytest-playwright's own (which pytest deprecates: a session fixture on an instance)
    return sandbox.service_url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": LAPTOP,
            "permissions": ["clipboard-read", "clipboard-write"]}


@pytest.fixture
def page(page: Page) -> Page:
    """pytest-playwright's page, patient: a loaded machine may take a while to answer."""
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    return page


def sign_in(page: Page, username: str, password: str, *, start: str = "/admin/customers") -> None:
    """As an operator does: ask for a page, sign in on Keycloak's form, land on that page."""
    page.goto(start)
    expect(page.locator("#kc-form-login")).to_be_visible()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


@pytest.fixture
def operator_page(page: Page, sandbox: Sandbox) -> Page:
    sign_in(page, sandbox.keycloak.operator_username, sandbox.keycloak.operator_password)
    return page


@pytest.fixture
def viewer_page(page: Page, sandbox: Sandbox) -> Page:
    sign_in(page, sandbox.keycloak.viewer_username, sandbox.keycloak.viewer_password)
    return page


_axe = Axe()


def assert_accessible(page: Page) -> None:
    """No serious or critical axe-core violation on the page as it stands."""
    results = _axe.run(page)
    grave = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert grave == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in grave)


def unique_email(prefix: str = "panel") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"
