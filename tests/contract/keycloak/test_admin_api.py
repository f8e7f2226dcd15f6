"""The Keycloak fake's /__admin/ API: a journal of what it answered, faults set and cleared over HTTP
(including expiring every token), and a reset."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from sim.clock import VirtualClock
from sim.keycloak import KeycloakFake
from sim.seed import Seed

DISCOVERY = "/realms/admin/.well-known/openid-configuration"


@pytest.fixture
def fake() -> KeycloakFake:
    return KeycloakFake.with_defaults(VirtualClock(datetime.now(UTC).replace(microsecond=0)), Seed(20260105))


@pytest.fixture
async def http(fake: KeycloakFake) -> AsyncIterator[httpx.AsyncClient]:
    fake.base_url = "http://keycloak.test/"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), base_url="http://keycloak.test") as c:
        yield c


async def operator_token(fake: KeycloakFake, http: httpx.AsyncClient) -> str:
    answer = await http.post("/realms/admin/protocol/openid-connect/token", data={
        "grant_type": "password", "client_id": fake.operator_client_id, "username": fake.operator_username,
        "password": fake.operator_password})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


async def test_the_journal_lists_what_it_answered_but_not_the_admin_calls(http: httpx.AsyncClient) -> None:
    assert (await http.get(DISCOVERY)).status_code == 200
    assert (await http.get("/realms/nowhere/.well-known/openid-configuration")).status_code == 404
    journal = (await http.get("/__admin/journal")).json()
    assert journal["fake"] == "keycloak"
    assert [(e["kind"], e["method"], e["path"], e["status"]) for e in journal["entries"]] == [
        ("request", "GET", DISCOVERY, 200),
        ("request", "GET", "/realms/nowhere/.well-known/openid-configuration", 404),
    ]


async def test_an_injected_fault_answers_and_is_journaled_until_cleared(http: httpx.AsyncClient) -> None:
    shown = (await http.post("/__admin/faults", json={"kind": "fail_next", "count": 2, "status": 502})).json()
    assert [(r["kind"], r["status"], r["remaining"]) for r in shown["rules"]] == [("fail_next", 502, 2)]
    assert (await http.get(DISCOVERY)).status_code == 502
    entries = (await http.get("/__admin/journal")).json()["entries"]
    assert [(e["kind"], e["fault"], e["status"]) for e in entries] == [("fault", "status", 502)]
    await http.post("/__admin/faults", json={"kind": "outage"})
    assert (await http.get(DISCOVERY)).status_code == 502  # the older rule still has a use left
    assert (await http.get(DISCOVERY)).status_code == 503
    assert (await http.post("/__admin/faults", json={"kind": "clear"})).json()["rules"] == []
    assert (await http.get(DISCOVERY)).status_code == 200


async def test_rate_limit_answers_429_with_retry_after(http: httpx.AsyncClient) -> None:
    await http.post("/__admin/faults", json={"kind": "rate_limit", "count": 1, "retry_after": 7})
    limited = await http.get(DISCOVERY)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")


async def test_expire_tokens_makes_every_issued_token_invalid(fake: KeycloakFake, http: httpx.AsyncClient) -> None:
    token = await operator_token(fake, http)
    userinfo = "/realms/admin/protocol/openid-connect/userinfo"
    assert (await http.get(userinfo, headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert (await http.post("/__admin/faults", json={"kind": "expire_tokens"})).status_code == 200
    assert (await http.get(userinfo, headers={"Authorization": f"Bearer {token}"})).status_code == 401


@pytest.mark.parametrize("body", [{"kind": "meteor"}, {"kind": "slow"}, {"kind": "fail_next", "count": "x"}])
async def test_a_fault_that_does_not_fit_is_a_bad_request(http: httpx.AsyncClient, body: dict[str, object]) -> None:
    answer = await http.post("/__admin/faults", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]


async def test_reset_forgets_requests_faults_and_users_but_keeps_the_realms(fake: KeycloakFake,
                                                                           http: httpx.AsyncClient) -> None:
    await operator_token(fake, http)
    fake.realm(fake.customer_realm).create_user({"username": "ada@example.com", "enabled": True})
    await http.post("/__admin/faults", json={"kind": "error_rate", "probability": 0.5})
    assert (await http.post("/__admin/reset")).json() == {"fake": "keycloak", "reset": True}
    assert (await http.get("/__admin/journal")).json()["entries"] == []
    assert (await http.get("/__admin/faults")).json()["rules"] == []
    assert fake.realm(fake.customer_realm).user_by_username("ada@example.com") is None
    await operator_token(fake, http)  # the seeded operator is back


async def test_the_admin_api_is_found_after_a_base_url_that_ends_in_a_slash(fake: KeycloakFake,
                                                                            http: httpx.AsyncClient) -> None:
    # what `curl $KEYCLOAK_URL/__admin/journal` asks for, since KEYCLOAK_URL ends in "/"
    answer = await http.get(f"{fake.base_url}/__admin/journal")
    assert answer.status_code == 200
    assert answer.json()["fake"] == "keycloak"
