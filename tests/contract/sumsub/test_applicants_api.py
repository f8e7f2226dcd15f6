"""The REST calls the service makes, answered in Sumsub's shapes."""

import re
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest

from sim.clock import VirtualClock
from sim.sumsub import SumsubFake
from sim.sumsub.signing import signed_request_headers

LEVEL = "basic-kyc-level"
CREATE = f"/resources/applicants?levelName={LEVEL}"
DUPLICATE = re.compile(r"^Applicant with external user id '(?P<external>.+)' already exists: (?P<id>[0-9a-f]{24})$")


def sumsub_seconds(clock: VirtualClock) -> str:
    return datetime.fromtimestamp(clock.time(), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


async def test_create_answers_200_with_the_applicant(api: httpx.AsyncClient, clock: VirtualClock) -> None:
    response = await api.post(CREATE, json={"externalUserId": "customer-1", "email": "ada@example.com",
                                            "fixedInfo": {"firstName": "Ada", "lastName": "Lovelace"}})
    assert response.status_code == 200
    applicant = response.json()
    assert re.fullmatch(r"[0-9a-f]{24}", applicant["id"])
    assert applicant["inspectionId"] == applicant["id"]
    assert applicant["externalUserId"] == "customer-1"
    assert applicant["createdAt"] == sumsub_seconds(clock)
    assert applicant["clientId"]
    assert applicant["type"] == "individual"
    assert applicant["email"] == "ada@example.com"
    assert applicant["fixedInfo"] == {"firstName": "Ada", "lastName": "Lovelace"}
    assert applicant["requiredIdDocs"]["docSets"]
    review = applicant["review"]
    assert review["reviewStatus"] == "init"
    assert review["levelName"] == LEVEL
    assert review["attemptCnt"] == 0
    assert review["createDate"] == f"{sumsub_seconds(clock)}+0000"
    assert {"reviewId", "attemptId", "priority"} <= set(review)


async def test_a_company_applicant_keeps_its_type(api: httpx.AsyncClient) -> None:
    response = await api.post(CREATE, json={"externalUserId": "acme", "type": "company"})
    assert response.json()["type"] == "company"


async def test_a_duplicate_external_id_is_409_naming_the_existing_applicant(api: httpx.AsyncClient) -> None:
    first = (await api.post(CREATE, json={"externalUserId": "customer-1"})).json()
    response = await api.post(CREATE, json={"externalUserId": "customer-1"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == 409
    assert re.fullmatch(r"[0-9a-f]{32}", body["correlationId"])
    parsed = DUPLICATE.match(body["description"])
    assert parsed is not None, body["description"]
    assert (parsed["external"], parsed["id"]) == ("customer-1", first["id"])


@pytest.mark.parametrize("body", [{}, {"externalUserId": ""}, {"externalUserId": "x", "type": "robot"}])
async def test_create_refuses_a_bad_body_with_400(api: httpx.AsyncClient, body: dict[str, str]) -> None:
    response = await api.post(CREATE, json=body)
    assert response.status_code == 400
    assert response.json()["code"] == 400


async def test_create_needs_a_level(api: httpx.AsyncClient) -> None:
    response = await api.post("/resources/applicants", json={"externalUserId": "x"})
    assert response.status_code == 400


@pytest.mark.parametrize("external_id", ["customer-1", "user 42@bank", "a+b&c=d;e", "ünïcødé", "tenant/7/user%41"])
async def test_get_by_external_id_with_the_id_escaped_in_the_path(api: httpx.AsyncClient, external_id: str) -> None:
    created = (await api.post(CREATE, json={"externalUserId": external_id})).json()
    response = await api.get(f"/resources/applicants/-;externalUserId={quote(external_id, safe='')}/one")
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert response.json()["externalUserId"] == external_id


async def test_get_by_applicant_id(api: httpx.AsyncClient) -> None:
    created = (await api.post(CREATE, json={"externalUserId": "customer-1"})).json()
    response = await api.get(f"/resources/applicants/{created['id']}/one")
    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize("path", [
    "/resources/applicants/65a1b2c3d4e5f60718293a4b/one",
    "/resources/applicants/-;externalUserId=nobody/one",
    "/resources/applicants/65a1b2c3d4e5f60718293a4b/status",
])
async def test_an_unknown_applicant_is_404_in_sumsubs_shape(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path)
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 404
    assert set(body) >= {"description", "code", "correlationId"}


async def test_test_completed_on_an_unknown_applicant_is_404(api: httpx.AsyncClient) -> None:
    response = await api.post("/resources/applicants/65a1b2c3d4e5f60718293a4b/status/testCompleted",
                              json={"reviewAnswer": "GREEN", "rejectLabels": []})
    assert response.status_code == 404


async def test_status_follows_the_lifecycle(api: httpx.AsyncClient, sumsub: SumsubFake, clock: VirtualClock) -> None:
    applicant_id = (await api.post(CREATE, json={"externalUserId": "customer-1"})).json()["id"]
    status_path = f"/resources/applicants/{applicant_id}/status"
    assert (await api.get(status_path)).json()["reviewStatus"] == "init"

    sumsub.submit_documents(applicant_id)
    pending = (await api.get(status_path)).json()
    assert (pending["reviewStatus"], pending["attemptCnt"]) == ("pending", 1)
    assert "reviewResult" not in pending

    await clock.advance(90)
    response = await api.post(f"/resources/applicants/{applicant_id}/status/testCompleted", json={
        "reviewAnswer": "RED", "rejectLabels": ["UNSATISFACTORY_PHOTOS", "SCREENSHOTS"], "reviewRejectType": "RETRY",
        "clientComment": "Screenshots are not accepted.",
        "moderationComment": "We do not accept screenshots. Please upload an original photo."})
    assert response.status_code == 200
    assert response.json() == {"ok": 1}
    completed = (await api.get(status_path)).json()
    assert completed["reviewStatus"] == "completed"
    assert completed["reviewDate"] == f"{sumsub_seconds(clock)}+0000"
    assert completed["elapsedSincePendingMs"] == 90_000
    assert completed["reviewResult"] == {
        "reviewAnswer": "RED", "rejectLabels": ["UNSATISFACTORY_PHOTOS", "SCREENSHOTS"], "reviewRejectType": "RETRY",
        "moderationComment": "We do not accept screenshots. Please upload an original photo.",
        "clientComment": "Screenshots are not accepted."}
    assert {"reviewId", "attemptId", "attemptCnt", "levelName", "createDate"} <= set(completed)


async def test_test_completed_sends_a_real_applicant_reviewed_webhook(api: httpx.AsyncClient, sumsub: SumsubFake,
                                                                      receiver, clock: VirtualClock) -> None:
    applicant_id = (await api.post(CREATE, json={"externalUserId": "customer-1"})).json()["id"]
    await api.post(f"/resources/applicants/{applicant_id}/status/testCompleted",
                   json={"reviewAnswer": "GREEN", "rejectLabels": []})
    assert receiver.received == []  # webhooks leave when the clock runs them, not inside the API call
    await clock.run_due()
    assert receiver.types == ["applicantCreated", "applicantReviewed"]
    reviewed = receiver.received[1].payload
    assert reviewed["reviewResult"] == {"reviewAnswer": "GREEN"}
    assert (reviewed["applicantId"], reviewed["reviewStatus"]) == (applicant_id, "completed")


async def test_test_completed_refuses_a_bad_answer(api: httpx.AsyncClient, sumsub: SumsubFake) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    path = f"/resources/applicants/{applicant.id}/status/testCompleted"
    assert (await api.post(path, json={"reviewAnswer": "YELLOW"})).status_code == 400
    assert (await api.post(path, json={"reviewAnswer": "RED", "reviewRejectType": "MAYBE"})).status_code == 400
    assert applicant.review_status == "init"


async def test_test_completed_is_sandbox_only(make_fake, seed, clock: VirtualClock) -> None:
    production = make_fake(seed, sandbox_mode=False)
    applicant = production.create_applicant("customer-1", LEVEL)
    path = f"/resources/applicants/{applicant.id}/status/testCompleted"
    body = b'{"reviewAnswer":"GREEN","rejectLabels":[]}'
    headers = signed_request_headers(production.app_token, production.secret_key, "POST", path, body,
                                     ts=int(clock.time()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=production.app), base_url="http://s") as client:
        response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["description"] == "This method is only supported on sandbox env"


async def test_permalink_current_form(api: httpx.AsyncClient, sumsub: SumsubFake, unsigned: httpx.AsyncClient) -> None:
    response = await api.post("/resources/sdkIntegrations/levels/-/websdkLink", json={
        "levelName": LEVEL, "userId": "customer-1", "ttlInSecs": 1800,
        "applicantIdentifiers": {"email": "ada@example.com", "phone": "+4400000000000"}})
    assert response.status_code == 200
    assert list(response.json()) == ["url"]
    url = response.json()["url"]
    assert re.fullmatch(r"http://sumsub\.test/websdk/p/sbx_[A-Za-z0-9]{16}", url)

    page = await unsigned.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    applicant = sumsub.applicant_by_external_user_id("customer-1")  # opening the link created it
    assert (applicant.level_name, applicant.email) == (LEVEL, "ada@example.com")
    assert (await unsigned.post(f"{url}/submit")).status_code == 200
    assert applicant.review_status == "pending"


async def test_permalink_older_form(api: httpx.AsyncClient, sumsub: SumsubFake) -> None:
    response = await api.post(f"/resources/sdkIntegrations/levels/{LEVEL}/websdkLink"
                              "?externalUserId=customer%202&ttlInSecs=600")
    assert response.status_code == 200
    token = response.json()["url"].rsplit("/", 1)[1]
    link = sumsub.permalinks[token]
    assert (link.level_name, link.external_user_id, link.expires_at - link.created_at) == (LEVEL, "customer 2", 600)


async def test_a_permalink_expires_on_the_clock(api: httpx.AsyncClient, unsigned: httpx.AsyncClient,
                                                clock: VirtualClock) -> None:
    url = (await api.post("/resources/sdkIntegrations/levels/-/websdkLink",
                          json={"levelName": LEVEL, "userId": "customer-1", "ttlInSecs": 600})).json()["url"]
    await clock.advance(599)
    assert (await unsigned.get(url)).status_code == 200
    await clock.advance(1)
    assert (await unsigned.get(url)).status_code == 410


async def test_a_permalink_with_an_existing_applicant_opens_that_applicant(
        api: httpx.AsyncClient, sumsub: SumsubFake, unsigned: httpx.AsyncClient) -> None:
    existing = sumsub.create_applicant("customer-1", LEVEL)
    url = (await api.post("/resources/sdkIntegrations/levels/-/websdkLink",
                          json={"levelName": LEVEL, "userId": "customer-1", "ttlInSecs": 600})).json()["url"]
    await unsigned.get(url)
    assert len(sumsub.applicants) == 1
    assert existing.id in (await unsigned.get(url)).text


@pytest.mark.parametrize("body", [{"userId": "x", "ttlInSecs": 60}, {"levelName": LEVEL, "ttlInSecs": 60},
                                  {"levelName": LEVEL, "userId": "x", "ttlInSecs": 0}])
async def test_permalink_refuses_a_bad_body(api: httpx.AsyncClient, body: dict[str, object]) -> None:
    assert (await api.post("/resources/sdkIntegrations/levels/-/websdkLink", json=body)).status_code == 400


async def test_fixed_info_change_emits_personal_info_changed(api: httpx.AsyncClient, sumsub: SumsubFake) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL, fixed_info={"firstName": "Ada"})
    response = await api.patch(f"/resources/applicants/{applicant.id}/fixedInfo", json={"lastName": "Lovelace"})
    assert response.status_code == 200
    assert response.json()["fixedInfo"] == {"firstName": "Ada", "lastName": "Lovelace"}
    assert sumsub.events[-1].type == "applicantPersonalInfoChanged"
