"""Injected faults as python-keycloak meets them: outages, rate limits, answers slower than its timeout."""

from __future__ import annotations

import httpx
import pytest
from keycloak import KeycloakAdmin, KeycloakConnectionError, KeycloakGetError

from sim.clock import VirtualClock
from sim.keycloak import KeycloakFake

from .keycloak_support import close_connection, service_connection


async def test_an_outage_fails_calls_until_its_window_passes_on_the_clock(
        admin: KeycloakAdmin, keycloak: KeycloakFake, clock: VirtualClock) -> None:
    assert admin.get_users({}) == []
    keycloak.faults.outage(seconds=30)

    with pytest.raises(KeycloakGetError) as failed:
        admin.get_users({})
    assert failed.value.response_code == 503
    with pytest.raises(KeycloakGetError):
        await admin.a_get_users({})

    await clock.advance(30)
    assert admin.get_users({}) == []
    assert await admin.a_get_users({}) == []


async def test_rate_limit_answers_429_with_retry_after(admin: KeycloakAdmin, keycloak: KeycloakFake,
                                                       server_url: str) -> None:
    keycloak.faults.rate_limit(1, retry_after=7)

    async with httpx.AsyncClient() as client:
        limited = await client.get(f"{server_url}realms/customer/protocol/openid-connect/certs")

    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert admin.get_users({}) == []


async def test_an_answer_slower_than_the_client_timeout_is_a_connection_error(
        keycloak: KeycloakFake, server_url: str) -> None:
    connection = service_connection(keycloak, server_url, timeout=1)
    admin = KeycloakAdmin(connection=connection)
    assert admin.get_users({}) == []
    # requests retries a read timeout once on its own: both tries must be slow for the caller to see it
    keycloak.faults.slow(1.5, count=2, path="/admin/")

    with pytest.raises(KeycloakConnectionError):
        admin.get_users({})

    assert admin.get_users({}) == []
    await close_connection(connection)
