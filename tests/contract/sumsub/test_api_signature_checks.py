"""The fake refuses what Sumsub refuses, with Sumsub's error body, and serves what it signs."""

import re

import httpx
import pytest

from sim.clock import VirtualClock
from sim.servers import served
from sim.sumsub import SumsubFake
from sim.sumsub.signing import request_signature

CREATE = "/resources/applicants?levelName=basic-kyc-level"


def assert_auth_refusal(response: httpx.Response, error_code: int, error_name: str) -> None:
    assert response.status_code == 401
    body = response.json()
    assert list(body) == ["description", "code", "correlationId", "errorCode", "errorName"]
    assert body["code"] == 401
    assert body["errorCode"] == error_code
    assert body["errorName"] == error_name
    assert re.fullmatch(r"[0-9a-f]{32}", body["correlationId"])
    assert body["description"]


async def test_a_correctly_signed_call_is_served(api: httpx.AsyncClient) -> None:
    response = await api.post(CREATE, json={"externalUserId": "customer-1"})
    assert response.status_code == 200


async def test_wrong_secret_is_a_signature_mismatch(client_signing_with, sumsub: SumsubFake) -> None:
    client = client_signing_with(secret_key="not-the-secret")
    response = await client.post(CREATE, json={"externalUserId": "customer-1"})
    assert_auth_refusal(response, 4003, "app-token-signature-mismatch")
    assert response.json()["description"] == "Request signature mismatch"
    assert len(sumsub.applicants) == 0


@pytest.mark.parametrize("skew", [-61, 61, -3600])
async def test_a_timestamp_outside_sixty_seconds_has_expired(client_signing_with, clock: VirtualClock,
                                                             skew: int) -> None:
    client = client_signing_with(now=lambda: clock.time() + skew)
    response = await client.get("/resources/applicants/000000000000000000000000/one")
    assert_auth_refusal(response, 4004, "app-token-request-expired")


@pytest.mark.parametrize("skew", [-60, 60])
async def test_sixty_seconds_of_skew_is_tolerated(client_signing_with, clock: VirtualClock, skew: int) -> None:
    client = client_signing_with(now=lambda: clock.time() + skew)
    response = await client.post(CREATE, json={"externalUserId": f"customer{skew}"})
    assert response.status_code == 200


async def test_the_tolerance_follows_the_virtual_clock(client_signing_with, clock: VirtualClock) -> None:
    started = clock.time()
    client = client_signing_with(now=lambda: started)
    assert (await client.post(CREATE, json={"externalUserId": "early"})).status_code == 200
    await clock.advance(61)
    assert_auth_refusal(await client.post(CREATE, json={"externalUserId": "late"}), 4004,
                        "app-token-request-expired")


@pytest.mark.parametrize("dropped", ["X-App-Token", "X-App-Access-Ts", "X-App-Access-Sig"])
async def test_a_missing_header_is_refused(api: httpx.AsyncClient, unsigned: httpx.AsyncClient,
                                           dropped: str) -> None:
    signed = api.build_request("POST", CREATE, json={"externalUserId": "customer-1"})
    signed = next(api.auth.auth_flow(signed))  # type: ignore[union-attr]
    del signed.headers[dropped]
    response = await unsigned.send(signed)
    assert_auth_refusal(response, 4006, "app-token-missing-headers")


async def test_no_headers_at_all_is_refused(unsigned: httpx.AsyncClient) -> None:
    assert_auth_refusal(await unsigned.get("/resources/applicants/x/one"), 4006, "app-token-missing-headers")


async def test_an_unknown_token_is_not_found(client_signing_with) -> None:
    client = client_signing_with(app_token="sbx:SomeoneElsesToken00000000.aBcDeFgHiJkLmNoPqRsTuVwXyZ012345")
    assert_auth_refusal(await client.post(CREATE, json={"externalUserId": "x"}), 4001, "app-token-not-found")


async def test_a_token_with_the_wrong_private_part_is_told_so(client_signing_with, sumsub: SumsubFake) -> None:
    public_part = sumsub.app_token.split(".")[0]
    client = client_signing_with(app_token=f"{public_part}.WrongPrivatePart000000000000000")
    assert_auth_refusal(await client.post(CREATE, json={"externalUserId": "x"}), 4002,
                        "app-token-private-part-mismatch")


async def test_a_malformed_token_is_a_format_error(client_signing_with) -> None:
    client = client_signing_with(app_token="not a token")
    assert_auth_refusal(await client.post(CREATE, json={"externalUserId": "x"}), 4000, "app-token-invalid-format")


async def test_the_signature_covers_the_query_string(api: httpx.AsyncClient, unsigned: httpx.AsyncClient) -> None:
    signed = next(api.auth.auth_flow(  # type: ignore[union-attr]
        api.build_request("POST", CREATE, json={"externalUserId": "customer-1"})))
    rerouted = unsigned.build_request("POST", "/resources/applicants?levelName=premium-level",
                                      content=signed.content, headers=dict(signed.headers))
    assert_auth_refusal(await unsigned.send(rerouted), 4003, "app-token-signature-mismatch")


async def test_the_signature_covers_the_body(api: httpx.AsyncClient, unsigned: httpx.AsyncClient) -> None:
    signed = next(api.auth.auth_flow(  # type: ignore[union-attr]
        api.build_request("POST", CREATE, json={"externalUserId": "customer-1"})))
    tampered = unsigned.build_request("POST", CREATE, content=b'{"externalUserId":"customer-2"}',
                                      headers=dict(signed.headers))
    assert_auth_refusal(await unsigned.send(tampered), 4003, "app-token-signature-mismatch")


async def test_the_signature_covers_the_escaped_path_as_sent(api: httpx.AsyncClient, sumsub: SumsubFake,
                                                             unsigned: httpx.AsyncClient, clock: VirtualClock) -> None:
    sumsub.create_applicant("user 42@bank", "basic-kyc-level")
    escaped = "/resources/applicants/-;externalUserId=user%2042%40bank/one"
    assert (await api.get(escaped)).status_code == 200
    # signed over the unescaped form, sent escaped: not what the server received
    ts = str(int(clock.time()))
    headers = {"X-App-Token": sumsub.app_token, "X-App-Access-Ts": ts,
               "X-App-Access-Sig": request_signature(sumsub.secret_key, ts, "GET",
                                                     "/resources/applicants/-;externalUserId=user 42@bank/one")}
    assert_auth_refusal(await unsigned.get(escaped, headers=headers), 4003, "app-token-signature-mismatch")


async def test_signed_calls_over_a_real_socket(sumsub: SumsubFake, app_token_auth) -> None:
    # uvicorn, not the in-process transport, decides what raw_path the fake sees here
    by_external_id = "/resources/applicants/-;externalUserId=user%2042%40bank%3Bx%3D1/one"
    async with served(sumsub.app) as server:
        async with httpx.AsyncClient(base_url=server.url, auth=app_token_auth()) as client:
            created = await client.post(CREATE, json={"externalUserId": "user 42@bank;x=1"})
            found = await client.get(by_external_id)
        async with httpx.AsyncClient(base_url=server.url, auth=app_token_auth(secret_key="wrong")) as client:
            refused = await client.get(by_external_id)
    assert created.status_code == 200
    assert found.status_code == 200
    assert found.json()["id"] == created.json()["id"]
    assert_auth_refusal(refused, 4003, "app-token-signature-mismatch")


async def test_the_websdk_page_needs_no_signature(api: httpx.AsyncClient, unsigned: httpx.AsyncClient) -> None:
    link = await api.post("/resources/sdkIntegrations/levels/-/websdkLink",
                          json={"levelName": "basic-kyc-level", "userId": "customer-1", "ttlInSecs": 600})
    url = link.json()["url"]
    assert (await unsigned.get(url)).status_code == 200


async def test_injected_rate_limit_answers_429_then_recovers(api: httpx.AsyncClient, sumsub: SumsubFake) -> None:
    sumsub.faults.rate_limit(1, retry_after=3)
    limited = await api.post(CREATE, json={"externalUserId": "customer-1"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert len(sumsub.applicants) == 0
    assert (await api.post(CREATE, json={"externalUserId": "customer-1"})).status_code == 200
    assert [(r.method, r.path, r.status) for r in sumsub.requests] == [
        ("POST", CREATE, 429), ("POST", CREATE, 200)]


async def test_injected_outage_answers_5xx_for_its_duration(api: httpx.AsyncClient, sumsub: SumsubFake,
                                                            clock: VirtualClock) -> None:
    sumsub.faults.outage(30, status=503)
    assert (await api.post(CREATE, json={"externalUserId": "a"})).status_code == 503
    await clock.advance(30)
    assert (await api.post(CREATE, json={"externalUserId": "a"})).status_code == 200


async def test_the_request_journal_keeps_calls_as_sent(api: httpx.AsyncClient, client_signing_with,
                                                       sumsub: SumsubFake) -> None:
    await api.post(CREATE, json={"externalUserId": "customer-1"})
    await client_signing_with(secret_key="wrong").get("/resources/applicants/-;externalUserId=a%2Fb/one")
    first, second = sumsub.requests
    assert (first.method, first.path, first.status, first.body) == (
        "POST", CREATE, 200, b'{"externalUserId":"customer-1"}')
    assert first.headers["x-app-token"] == sumsub.app_token
    assert (second.method, second.path, second.status) == (
        "GET", "/resources/applicants/-;externalUserId=a%2Fb/one", 401)
