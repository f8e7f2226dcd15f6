"""Start KYC: the service's Sumsub client against the Sumsub fake on a real socket."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from service.app import create_app
from service.settings import Settings
from sim.clock import VirtualClock
from sim.seed import Seed
from sim.servers import serve_asgi
from sim.sumsub import SumsubFake

Client = httpx.AsyncClient


@pytest.fixture(scope="module")
async def sumsub() -> AsyncIterator[SumsubFake]:
    fake = SumsubFake(VirtualClock.wall(), Seed(4), app_token="sbx:test-token", secret_key="test-app-secret",
                      webhook_secret="unused-here")
    yield fake
    await fake.aclose()


@pytest.fixture(scope="module")
async def kyc_app(settings: Settings, sumsub: SumsubFake) -> AsyncIterator[tuple[Litestar, Client]]:
    sumsub_server = await serve_asgi(sumsub.app)
    configured = msgspec.structs.replace(settings, sumsub_url=sumsub_server.url, sumsub_app_token=sumsub.app_token,
                                         sumsub_secret_key=sumsub.secret_key)
    app = create_app(configured, migrate_on_start=False)
    server = await serve_asgi(app)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield app, client
    await server.stop()
    await sumsub_server.stop()


@pytest.fixture
def kyc_api(kyc_app: tuple[Litestar, Client]) -> Client:
    return kyc_app[1]


@pytest.fixture(autouse=True)
def no_faults(sumsub: SumsubFake) -> None:
    sumsub.faults.reset()


async def new_customer(api: Client, headers: dict[str, str], customer_type: str = "individual") -> dict[str, Any]:
    response = await api.post("/api/customers", headers=headers, json={
        "email": f"link.{uuid.uuid4().hex[:12]}@example.com", "customer_type": customer_type})
    assert response.status_code == 201
    return dict(response.json())


async def test_the_applicant_is_made_once_and_every_call_gives_a_fresh_link(
        kyc_api: Client, sumsub: SumsubFake, as_operator: dict[str, str]) -> None:
    customer = await new_customer(kyc_api, as_operator)
    first = await kyc_api.post(f"/api/customers/{customer['id']}/kyc-link", headers=as_operator)
    second = await kyc_api.post(f"/api/customers/{customer['public_id']}/kyc-link", headers=as_operator)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["url"] != second.json()["url"]
    assert first.json()["applicant_id"] == second.json()["applicant_id"]
    assert first.json()["level_name"] == "basic-kyc-level"
    mine = [a for a in sumsub.applicants if a.external_user_id == customer["id"]]
    assert len(mine) == 1
    shown = (await kyc_api.get(f"/api/customers/{customer['id']}", headers=as_operator)).json()
    assert (shown["kyc_status"], shown["applicant_id"]) == ("pending", first.json()["applicant_id"])
    assert shown["kyc"]["started_at"] is not None


async def test_organisations_go_to_the_kyb_level(kyc_api: Client, as_operator: dict[str, str]) -> None:
    customer = await new_customer(kyc_api, as_operator, "bank")
    link = await kyc_api.post(f"/api/customers/{customer['id']}/kyc-link", headers=as_operator)
    assert link.json()["level_name"] == "basic-kyb-level"


async def test_an_applicant_sumsub_already_has_is_found_not_duplicated(
        kyc_api: Client, sumsub: SumsubFake, as_operator: dict[str, str]) -> None:
    customer = await new_customer(kyc_api, as_operator)
    existing = sumsub.create_applicant(customer["id"], "basic-kyc-level")
    link = await kyc_api.post(f"/api/customers/{customer['id']}/kyc-link", headers=as_operator)
    assert link.status_code == 200
    assert link.json()["applicant_id"] == existing.id
    assert len([a for a in sumsub.applicants if a.external_user_id == customer["id"]]) == 1


async def test_sumsub_down_is_a_502_with_the_reason_and_nothing_written(
        kyc_api: Client, sumsub: SumsubFake, as_operator: dict[str, str]) -> None:
    customer = await new_customer(kyc_api, as_operator)
    sumsub.faults.outage(status=503)
    response = await kyc_api.post(f"/api/customers/{customer['id']}/kyc-link", headers=as_operator)
    assert response.status_code == 502
    assert response.json()["code"] == "sumsub_failed"
    assert "Sumsub answered 503: sumsub is down" in response.json()["detail"]  # read from Sumsub's error shape
    shown = (await kyc_api.get(f"/api/customers/{customer['id']}", headers=as_operator)).json()
    assert (shown["kyc_status"], shown["applicant_id"], shown["kyc"]["started_at"]) == ("not_started", None, None)


async def test_a_rate_limit_and_a_server_error_are_retried(kyc_api: Client, sumsub: SumsubFake,
                                                           as_operator: dict[str, str]) -> None:
    customer = await new_customer(kyc_api, as_operator)
    sumsub.faults.rate_limit(1, retry_after=0)
    sumsub.faults.fail_next(1, status=500)
    response = await kyc_api.post(f"/api/customers/{customer['id']}/kyc-link", headers=as_operator)
    assert response.status_code == 200, response.text
    assert [f.status for f in sumsub.faults.journal] == [429, 500]


async def test_a_suspended_customer_cannot_start_kyc(kyc_api: Client, sumsub: SumsubFake,
                                                     as_operator: dict[str, str]) -> None:
    customer = await new_customer(kyc_api, as_operator)
    await kyc_api.post(f"/api/customers/{customer['id']}/deactivate", headers=as_operator)
    before = len(sumsub.applicants)
    response = await kyc_api.post(f"/api/customers/{customer['id']}/kyc-link", headers=as_operator)
    assert (response.status_code, response.json()["code"]) == (409, "customer_suspended")
    assert len(sumsub.applicants) == before


async def test_a_refused_signature_is_not_retried_and_says_why(
        kyc_app: tuple[Litestar, Client], sumsub: SumsubFake, as_operator: dict[str, str]) -> None:
    _, api = kyc_app
    customer = await new_customer(api, as_operator)
    real_secret = sumsub.secret_key
    sumsub.secret_key = "rotated-on-the-sumsub-side"
    try:
        response = await api.post(f"/api/customers/{customer['id']}/kyc-link", headers=as_operator)
    finally:
        sumsub.secret_key = real_secret
    assert response.status_code == 502
    assert response.json()["upstream_status"] == 401
    assert "signature" in response.json()["detail"].lower()
