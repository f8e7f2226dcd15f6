"""A Keycloak fake served on a real socket, with the real python-keycloak pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller
from keycloak import KeycloakAdmin, KeycloakOpenID

from sim.clock import VirtualClock
from sim.keycloak import KeycloakFake
from sim.seed import Seed
from sim.servers import ThreadedServer

from .keycloak_support import CapturingHandler, close_connection, free_port, service_connection


@pytest.fixture
def clock() -> VirtualClock:
    # Virtual, but starting at the wall's "now" so PyJWT's own expiry checks agree with the fake's.
    return VirtualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def keycloak(clock: VirtualClock) -> KeycloakFake:
    return KeycloakFake.with_defaults(clock, Seed(20260105))


@pytest.fixture
def server_url(keycloak: KeycloakFake) -> Iterator[str]:
    with ThreadedServer(keycloak.app) as server:
        yield server.url + "/"


@pytest.fixture
async def admin(keycloak: KeycloakFake, server_url: str) -> AsyncIterator[KeycloakAdmin]:
    connection = service_connection(keycloak, server_url)
    yield KeycloakAdmin(connection=connection)
    await close_connection(connection)


@pytest.fixture
async def portal(keycloak: KeycloakFake, server_url: str) -> AsyncIterator[KeycloakOpenID]:
    openid = KeycloakOpenID(server_url=server_url, realm_name=keycloak.customer_realm,
                            client_id=keycloak.portal_client_id)
    yield openid
    await openid.connection.aclose()


@pytest.fixture
async def operator_openid(keycloak: KeycloakFake, server_url: str) -> AsyncIterator[KeycloakOpenID]:
    openid = KeycloakOpenID(server_url=server_url, realm_name=keycloak.admin_realm,
                            client_id=keycloak.operator_client_id)
    yield openid
    await openid.connection.aclose()


@pytest.fixture
def smtp(keycloak: KeycloakFake) -> Iterator[CapturingHandler]:
    """A minimal SMTP server, so these tests need nothing from the SMTP fake."""
    handler = CapturingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    keycloak.smtp_host, keycloak.smtp_port = controller.hostname, controller.port
    yield handler
    controller.stop()
