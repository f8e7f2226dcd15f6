"""The customers API through HTTP against a real PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from service.customers.domain import CustomerType
from service.db.models import CustomerRecord

Client = httpx.AsyncClient


async def create(api: Client, headers: dict[str, str], **body: Any) -> Any:
    body.setdefault("customer_type", "individual")
    response = await api.post("/api/customers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def count_with_email(app: Litestar, email: str) -> int:
    async with app.state.sessions() as session:
        return int(await session.scalar(
            select(func.count()).select_from(CustomerRecord).where(CustomerRecord.email == email.lower())) or 0)


async def test_a_new_customer_starts_unverified_inactive_and_not_kyced(api: Client, as_operator: dict[str, str],
                                                                      email: str) -> None:
    customer = await create(api, as_operator, email=email, telegram_id="@Ada_Lovelace_" + email[4:10],
                            customer_type="private_company")
    assert customer["email"] == email
    assert customer["customer_type"] == "private_company"
    assert customer["kyc_status"] == "not_started"
    assert customer["verification_status"] == "pending_verification"
    assert customer["kyc_level"] == "not_kyced"
    assert customer["activity_status"] == "inactive"
    assert customer["applicant_id"] is None
    assert customer["eligible_for_credit_facility"] is False
    assert customer["telegram_id"] == customer["telegram_id"].lower()
    assert customer["public_id"].startswith("C")
    assert int(customer["public_id"][1:]) >= 1000
    uuid.UUID(customer["id"])


async def test_every_customer_type_can_be_created(api: Client, as_operator: dict[str, str]) -> None:
    for customer_type in CustomerType:
        customer = await create(api, as_operator, email=f"{customer_type.value}.{uuid.uuid4().hex[:8]}@example.com",
                                customer_type=customer_type.value)
        assert customer["customer_type"] == customer_type.value


async def test_public_ids_come_from_a_sequence_and_are_never_reused(api: Client, as_operator: dict[str, str]) -> None:
    first = await create(api, as_operator, email=f"first.{uuid.uuid4().hex[:8]}@example.com")
    second = await create(api, as_operator, email=f"second.{uuid.uuid4().hex[:8]}@example.com")
    assert int(second["public_id"][1:]) > int(first["public_id"][1:])


async def test_the_same_email_in_other_letter_case_is_a_409_naming_the_field(
        api: Client, app: Litestar, as_operator: dict[str, str], email: str) -> None:
    await create(api, as_operator, email=email)
    response = await api.post("/api/customers", json={"email": email.upper(), "customer_type": "bank"},
                              headers=as_operator)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "duplicate_email"
    assert problem["field"] == "email"
    assert problem["status"] == 409
    assert await count_with_email(app, email) == 1


async def test_a_duplicate_telegram_id_is_a_409_naming_the_field(api: Client, as_operator: dict[str, str],
                                                                 email: str) -> None:
    telegram_id = str(uuid.uuid4().int)[:12]
    await create(api, as_operator, email=email, telegram_id=telegram_id)
    response = await api.post("/api/customers", headers=as_operator, json={
        "email": "other." + email, "customer_type": "individual", "telegram_id": telegram_id})
    assert response.status_code == 409
    assert response.json()["field"] == "telegram_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "customer_type": "individual"}, "email"),
        ({"email": "ada@example", "customer_type": "individual"}, "email"),
        ({"email": "a" * 250 + "@example.com", "customer_type": "individual"}, "email"),
        ({"email": "ada@example.com", "customer_type": "alien"}, "customer_type"),
        ({"email": "ada@example.com"}, "customer_type"),
        ({"customer_type": "individual"}, "email"),
        ({"email": "ada@example.com", "customer_type": "individual", "telegram_id": "x" * 65}, "telegram_id"),
        ({"email": "ada@example.com", "customer_type": "individual", "telegram_id": "@no spaces"}, "telegram_id"),
        ({"email": 42, "customer_type": "individual"}, "email"),
    ],
)
async def test_invalid_input_is_a_422_naming_the_field_and_writes_nothing(
        api: Client, app: Litestar, as_operator: dict[str, str], body: dict[str, Any], field: str) -> None:
    response = await api.post("/api/customers", json=body, headers=as_operator)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "invalid_input"
    assert problem["field"] == field
    if isinstance(body.get("email"), str):
        assert await count_with_email(app, body["email"]) == 0


async def test_a_body_that_is_not_json_is_a_400(api: Client, as_operator: dict[str, str]) -> None:
    response = await api.post("/api/customers", content=b"{not json",
                              headers={**as_operator, "content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


async def test_one_customer_by_uuid_or_public_id(api: Client, as_operator: dict[str, str], email: str) -> None:
    customer = await create(api, as_operator, email=email)
    for reference in (customer["id"], customer["public_id"], customer["public_id"].lower()):
        response = await api.get(f"/api/customers/{reference}", headers=as_operator)
        assert response.status_code == 200
        assert response.json()["id"] == customer["id"]


@pytest.mark.parametrize("reference", [str(uuid.UUID(int=1)), "C99999999", "nobody", "1%27%20OR%201%3D1"])
async def test_an_unknown_customer_is_a_404(api: Client, as_operator: dict[str, str], reference: str) -> None:
    response = await api.get(f"/api/customers/{reference}", headers=as_operator)
    assert response.status_code == 404
    assert response.json()["code"] == "customer_not_found"


async def _all_pages(api: Client, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await api.get("/api/customers", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= params.get("limit", 20)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


async def test_the_list_searches_sorts_both_ways_and_pages_without_gaps(api: Client,
                                                                          as_operator: dict[str, str]) -> None:
    tag = uuid.uuid4().hex[:10]
    created = [await create(api, as_operator, email=f"list{n}.{tag}@example.com") for n in range(5)]
    oldest_first = await _all_pages(api, as_operator, q=tag, sort="created_at", limit=2)
    newest_first = await _all_pages(api, as_operator, q=tag, sort="-created_at", limit=2)
    assert [c["id"] for c in oldest_first] == [c["id"] for c in created]
    assert [c["id"] for c in newest_first] == [c["id"] for c in reversed(created)]
    by_public_id = (await api.get("/api/customers", params={"q": created[2]["public_id"]},
                                  headers=as_operator)).json()["items"]
    assert [c["id"] for c in by_public_id] == [created[2]["id"]]


async def test_search_treats_sql_and_wildcards_as_plain_text(api: Client, as_operator: dict[str, str]) -> None:
    tag = uuid.uuid4().hex[:10]
    underscored = await create(api, as_operator, email=f"under_score.{tag}@example.com")
    await create(api, as_operator, email=f"underxscore.{tag}@example.com")
    found = (await api.get("/api/customers", params={"q": f"under_score.{tag}"}, headers=as_operator)).json()
    assert [c["id"] for c in found["items"]] == [underscored["id"]]
    for hostile in ("%", "' OR 1=1 --", "\\", f"%{tag}%"):
        response = await api.get("/api/customers", params={"q": hostile}, headers=as_operator)
        assert response.status_code == 200
        assert response.json()["items"] == []


async def test_the_status_filter(api: Client, as_operator: dict[str, str]) -> None:
    tag = uuid.uuid4().hex[:10]
    kept = await create(api, as_operator, email=f"kept.{tag}@example.com")
    gone = await create(api, as_operator, email=f"gone.{tag}@example.com")
    assert (await api.post(f"/api/customers/{gone['id']}/deactivate", headers=as_operator)).status_code == 200

    async def ids(status: str) -> set[str]:
        response = await api.get("/api/customers", params={"q": tag, "status": status}, headers=as_operator)
        assert response.status_code == 200
        return {c["id"] for c in response.json()["items"]}

    assert await ids("suspended") == {gone["id"]}
    assert await ids("inactive") == {kept["id"]}
    assert await ids("active") == set()
    assert await ids("pending") == {kept["id"], gone["id"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 10_000}, "limit"),
        ({"limit": -1}, "limit"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
        ({"sort": "email"}, "sort"),
        ({"status": "deleted"}, "status"),
        ({"q": "x" * 300}, "q"),
    ],
)
async def test_bad_list_parameters_are_a_422_naming_them(api: Client, as_operator: dict[str, str],
                                                         params: dict[str, Any], field: str) -> None:
    response = await api.get("/api/customers", params=params, headers=as_operator)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_deactivation_suspends_and_is_idempotent(api: Client, as_operator: dict[str, str], email: str) -> None:
    customer = await create(api, as_operator, email=email)
    for _ in range(2):
        response = await api.post(f"/api/customers/{customer['public_id']}/deactivate", headers=as_operator)
        assert response.status_code == 200
        assert response.json()["activity_status"] == "suspended"
    shown = (await api.get(f"/api/customers/{customer['id']}", headers=as_operator)).json()
    assert shown["activity_status"] == "suspended"
