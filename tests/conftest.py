"""Shared fixtures: one migrated scratch database, the Keycloak fake on a real socket, and the
service app wired to both, for the whole test session."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from litestar import Litestar
from saq import Worker

from service.app import create_app
from service.settings import Settings, load_settings
from service.worker import build_worker
from sim.clock import VirtualClock
from sim.keycloak import KeycloakFake
from sim.seed import Seed
from sim.servers import RunningServer, serve_asgi
from tests.support.databases import scratch_database


def pytest_report_header() -> str:
    if os.environ.get("DATABASE_URL"):
        return "database: scratch databases on DATABASE_URL's server"
    return "database: the embedded scratch PostgreSQL, fsync off (its databases are thrown away)"


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with scratch_database() as url:
        yield url


@pytest.fixture(scope="session")
async def keycloak() -> AsyncIterator[KeycloakFake]:
    # The service checks token expiry against the wall clock, so this fake's clock follows it.
    fake = KeycloakFake.with_defaults(VirtualClock.wall(), Seed(20261125))
    server: RunningServer = await serve_asgi(fake.app)
    fake.base_url = server.url + "/"
    yield fake
    await server.stop()


@pytest.fixture(scope="session")
def settings(database_url: str, keycloak: KeycloakFake) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        queue_url=os.environ.get("QUEUE_URL"),
        queue_name=f"test-{uuid.uuid4().hex[:8]}",
        keycloak_url=keycloak.base_url,
        keycloak_admin_realm=keycloak.admin_realm,
        keycloak_customer_realm=keycloak.customer_realm,
        # as in production: operator tokens must be the admin panel's and name the service's audience
        operator_client_ids=[keycloak.operator_client_id],
        service_audience=keycloak.service_audience,
        portal_client_id=keycloak.portal_client_id,
        sumsub_webhook_secret="test-webhook-secret",
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> Litestar:
    return create_app(settings, migrate_on_start=False)


@pytest.fixture(scope="session")
async def api(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The service on a real socket, in the tests' event loop, and an HTTP client for it."""
    server = await serve_asgi(app)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client
    await server.stop()


@pytest.fixture(scope="session")
async def operator_token(keycloak: KeycloakFake) -> str:
    """Obtained as an operator would: the password grant through the admin panel's client."""
    async with httpx.AsyncClient(base_url=keycloak.base_url) as http:
        response = await http.post(
            f"realms/{keycloak.admin_realm}/protocol/openid-connect/token",
            data={"grant_type": "password", "client_id": keycloak.operator_client_id,
                  "username": keycloak.operator_username, "password": keycloak.operator_password},
        )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture(scope="session")
async def viewer_token(keycloak: KeycloakFake) -> str:
    return keycloak.mint_token(keycloak.admin_realm, "viewer", client_id=keycloak.operator_client_id)


@pytest.fixture
def as_operator(operator_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {operator_token}"}


@pytest.fixture
def as_viewer(viewer_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {viewer_token}"}


@pytest.fixture
def email() -> str:
    """An address no other test uses, so tests share one database without cleaning it."""
    return f"ada.{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture(scope="session")
async def worker(settings: Settings, database_url: str, api: httpx.AsyncClient) -> AsyncIterator[Worker]:
    """A SAQ worker on the same queue as the app, running in the tests' event loop."""
    worker = build_worker(settings, database_url, concurrency=4, handle_signals=False)
    await worker.queue.connect()
    task = asyncio.create_task(worker.start())
    yield worker
    await worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await worker.queue.disconnect()


@pytest.fixture
def jwt_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token PyJWT is asked to check the signature of, in order."""
    checked: list[str] = []
    real_decode: Callable[..., dict[str, Any]] = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        checked.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return checked
