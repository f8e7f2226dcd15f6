"""The Keycloak fake's clock over its /__admin/ API: moving it on expires the tokens it issued."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from sim.clock import VirtualClock
from sim.keycloak import KeycloakFake
from sim.seed import Seed


@pytest.fixture
def fake() -> KeycloakFake:
    return KeycloakFake.with_defaults(VirtualClock(datetime.now(UTC).replace(microsecond=0)), Seed(20260105))


@pytest.fixture
async def http(fake: KeycloakFake) -> AsyncIterator[httpx.AsyncClient]:
    fake.base_url = "http://keycloak.test/"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), base_url="http://keycloak.test") as c:
        yield c


async def test_advancing_the_clock_past_a_tokens_lifetime_expires_it(fake: KeycloakFake,
                                                                     http: httpx.AsyncClient) -> None:
    token = (await http.post("/realms/admin/protocol/openid-connect/token", data={
        "grant_type": "password", "client_id": fake.operator_client_id, "username": fake.operator_username,
        "password": fake.operator_password})).json()
    introspect = "/realms/admin/protocol/openid-connect/userinfo"
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert (await http.get(introspect, headers=auth)).status_code == 200
    before = (await http.get("/__admin/clock")).json()["time"]

    moved = await http.post("/__admin/clock/advance", json={"seconds": token["expires_in"] + 1})
    assert moved.status_code == 200, moved.text
    assert moved.json()["fake"] == "keycloak"
    assert moved.json()["time"] == before + token["expires_in"] + 1
    assert fake.clock.time() == moved.json()["time"]
    assert (await http.get(introspect, headers=auth)).status_code == 401


async def test_a_negative_advance_is_refused(http: httpx.AsyncClient, fake: KeycloakFake) -> None:
    before = fake.clock.time()
    assert (await http.post("/__admin/clock/advance", json={"seconds": -5})).status_code == 400
    assert fake.clock.time() == before
