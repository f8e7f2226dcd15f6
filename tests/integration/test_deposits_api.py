"""The deposit accounts API through HTTP against a real PostgreSQL: read an account, deposit,
withdraw, and every refusal as a problem document."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select, text, update

from service.customers.domain import ActivityStatus, CustomerType
from service.db.models import CustomerRecord
from service.ledger.models import JournalLineRecord
from service.ledger.repository import freeze_deposit_account, open_deposit_account
from tests.support.waiting import eventually

Client = httpx.AsyncClient
Headers = dict[str, str]


async def new_customer(api: Client, app: Litestar, headers: Headers, email: str, *,
                       customer_type: CustomerType = CustomerType.INDIVIDUAL,
                       activity_status: ActivityStatus = ActivityStatus.ACTIVE,
                       with_account: bool = True) -> dict[str, Any]:
    """A customer made through the API, then brought to the given state directly in the database."""
    response = await api.post("/api/customers", json={"email": email, "customer_type": customer_type.value},
                              headers=headers)
    assert response.status_code == 201, response.text
    customer: dict[str, Any] = response.json()
    customer_id = uuid.UUID(customer["id"])
    async with app.state.sessions.begin() as session:
        await session.execute(update(CustomerRecord).where(CustomerRecord.id == customer_id)
                              .values(activity_status=activity_status.value))
        if with_account:
            await open_deposit_account(session, customer_id, customer_type)
    return customer


async def deposit(client: Client, customer: dict[str, Any], amount_cents: int, headers: Headers) -> Any:
    response = await client.post(f"/api/customers/{customer['id']}/deposits", json={"amount_cents": amount_cents},
                                 headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def get_account(client: Client, customer: dict[str, Any], headers: Headers) -> Any:
    response = await client.get(f"/api/customers/{customer['id']}/account", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def lines_of_customer(app: Litestar, account_id: str) -> int:
    async with app.state.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(JournalLineRecord)
                                        .where(JournalLineRecord.account_id == uuid.UUID(account_id))) or 0)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    return problem


async def test_the_account_shows_its_set_currency_status_and_balance(
        api: Client, app: Litestar, as_operator: Headers, email: str) -> None:
    customer = await new_customer(api, app, as_operator, email,
                                  customer_type=CustomerType.FOREIGN_AGENCY_OR_SUBSIDIARY)
    account = await get_account(api, customer, as_operator)
    uuid.UUID(account["id"])
    assert account["customer_id"] == customer["id"]
    assert account["status"] == "active"
    assert account["currency"] == "USD"
    assert account["balance_cents"] == 0
    assert account["account_set"] == "deposit-foreign-agency-or-subsidiary-account-set"
    assert account["overdraft_prevented"] is True
    assert account["entries"] == []


async def test_the_account_is_found_by_public_id_too(api: Client, app: Litestar, as_operator: Headers,
                                                     email: str) -> None:
    customer = await new_customer(api, app, as_operator, email)
    by_uuid = await get_account(api, customer, as_operator)
    by_public_id = await get_account(api, {"id": customer["public_id"]}, as_operator)
    assert by_public_id == by_uuid


async def test_a_deposit_credits_the_account_and_answers_with_the_entry(
        api: Client, app: Litestar, as_operator: Headers, email: str) -> None:
    customer = await new_customer(api, app, as_operator, email)
    posted = await deposit(api, customer, 12_500, as_operator)
    assert posted["balance_cents"] == 12_500
    assert posted["replayed"] is False
    entry = posted["entry"]
    assert (entry["kind"], entry["side"], entry["amount_cents"], entry["balance_after_cents"]) == (
        "deposit", "credit", 12_500, 12_500)
    account = await get_account(api, customer, as_operator)
    assert account["balance_cents"] == 12_500
    assert account["entries"] == [entry]


async def test_a_withdrawal_debits_the_account(api: Client, app: Litestar, as_operator: Headers, email: str) -> None:
    customer = await new_customer(api, app, as_operator, email)
    await deposit(api, customer, 1_000, as_operator)
    response = await api.post(f"/api/customers/{customer['id']}/withdrawals", json={"amount_cents": 400},
                              headers=as_operator)
    assert response.status_code == 201, response.text
    posted = response.json()
    assert posted["balance_cents"] == 600
    assert (posted["entry"]["kind"], posted["entry"]["side"]) == ("withdrawal", "debit")
    account = await get_account(api, customer, as_operator)
    assert [e["kind"] for e in account["entries"]] == ["withdrawal", "deposit"]


async def test_a_withdrawal_that_would_overdraw_is_a_409_and_writes_nothing(
        api: Client, app: Litestar, as_operator: Headers, email: str) -> None:
    customer = await new_customer(api, app, as_operator, email)
    await deposit(api, customer, 1_000, as_operator)
    account = await get_account(api, customer, as_operator)
    response = await api.post(f"/api/customers/{customer['id']}/withdrawals",
                              json={"amount_cents": 1_001}, headers=as_operator)
    problem = assert_problem(response, 409, "insufficient_funds")
    assert (problem["balance_cents"], problem["requested_cents"]) == (1_000, 1_001)
    assert (await get_account(api, customer, as_operator))["balance_cents"] == 1_000
    assert await lines_of_customer(app, account["id"]) == 1


async def test_the_same_idempotency_key_deposits_once(api: Client, app: Litestar, as_operator: Headers,
                                                      email: str) -> None:
    customer = await new_customer(api, app, as_operator, email)
    headers = {**as_operator, "Idempotency-Key": f"deposit-{uuid.uuid4()}"}
    first = await deposit(api, customer, 300, headers)
    again = await deposit(api, customer, 300, headers)
    assert again["entry"] == first["entry"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert (await get_account(api, customer, as_operator))["balance_cents"] == 300
    response = await api.post(f"/api/customers/{customer['id']}/deposits", json={"amount_cents": 301},
                              headers=headers)
    assert_problem(response, 409, "idempotency_key_reused")


async def test_a_frozen_account_refuses_deposits_and_withdrawals_with_a_409(
        api: Client, app: Litestar, as_operator: Headers, email: str) -> None:
    customer = await new_customer(api, app, as_operator, email)
    await deposit(api, customer, 1_000, as_operator)
    async with app.state.sessions.begin() as session:
        await freeze_deposit_account(session, uuid.UUID(customer["id"]))
    for operation in ("deposits", "withdrawals"):
        response = await api.post(f"/api/customers/{customer['id']}/{operation}",
                                  json={"amount_cents": 100}, headers=as_operator)
        assert_problem(response, 409, "account_frozen")
    account = await get_account(api, customer, as_operator)
    assert (account["status"], account["balance_cents"]) == ("frozen", 1_000)


@pytest.mark.parametrize("activity_status", [ActivityStatus.INACTIVE, ActivityStatus.SUSPENDED], ids=str)
async def test_a_customer_that_is_not_active_can_neither_deposit_nor_withdraw(
        api: Client, app: Litestar, as_operator: Headers, email: str, activity_status: ActivityStatus) -> None:
    customer = await new_customer(api, app, as_operator, email, activity_status=activity_status)
    for operation in ("deposits", "withdrawals"):
        response = await api.post(f"/api/customers/{customer['id']}/{operation}",
                                  json={"amount_cents": 100}, headers=as_operator)
        problem = assert_problem(response, 409, "customer_not_active")
        assert problem["activity_status"] == activity_status.value
    assert (await get_account(api, customer, as_operator))["entries"] == []


async def test_a_customer_without_a_deposit_account_is_a_404(api: Client, app: Litestar, as_operator: Headers,
                                                              email: str) -> None:
    customer = await new_customer(api, app, as_operator, email, with_account=False)
    response = await api.get(f"/api/customers/{customer['id']}/account", headers=as_operator)
    assert_problem(response, 404, "account_not_found")
    for operation in ("deposits", "withdrawals"):
        response = await api.post(f"/api/customers/{customer['id']}/{operation}",
                                  json={"amount_cents": 100}, headers=as_operator)
        assert_problem(response, 404, "account_not_found")


async def test_an_unknown_customer_is_a_404(api: Client, as_operator: Headers) -> None:
    stranger = uuid.uuid4()
    response = await api.get(f"/api/customers/{stranger}/account", headers=as_operator)
    assert_problem(response, 404, "customer_not_found")
    response = await api.post(f"/api/customers/{stranger}/deposits", json={"amount_cents": 100},
                              headers=as_operator)
    assert_problem(response, 404, "customer_not_found")


@pytest.mark.parametrize("operation", ["deposits", "withdrawals"])
@pytest.mark.parametrize("body", [
    {"amount_cents": -100}, {"amount_cents": 0}, {"amount_cents": 1.5}, {"amount_cents": 5.0},
    {"amount_cents": 10**13 + 1}, {"amount_cents": 10**30}, {"amount_cents": "100"}, {"amount_cents": True},
    {"amount_cents": None}, {},
], ids=["negative", "zero", "fractional", "float-whole", "over-max", "enormous", "string", "bool", "null",
        "missing"])
async def test_an_invalid_amount_is_a_422_naming_amount_cents_and_writes_nothing(
        api: Client, app: Litestar, as_operator: Headers, email: str, operation: str, body: dict[str, Any]) -> None:
    customer = await new_customer(api, app, as_operator, email)
    await deposit(api, customer, 1_000, as_operator)
    account = await get_account(api, customer, as_operator)
    response = await api.post(f"/api/customers/{customer['id']}/{operation}", json=body,
                              headers=as_operator)
    problem = assert_problem(response, 422, "invalid_input")
    assert problem["field"] == "amount_cents"
    assert await lines_of_customer(app, account["id"]) == 1


ENDPOINTS = [("GET", "account"), ("POST", "deposits"), ("POST", "withdrawals")]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[p for _, p in ENDPOINTS])
async def test_no_token_is_a_401(api: Client, method: str, path: str) -> None:
    response = await api.request(method, f"/api/customers/{uuid.uuid4()}/{path}",
                                 json={"amount_cents": 100} if method == "POST" else None)
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize("path", ["deposits", "withdrawals"])
async def test_a_viewer_may_read_the_account_but_not_move_money(
        api: Client, app: Litestar, as_operator: Headers, as_viewer: Headers, email: str, path: str) -> None:
    customer = await new_customer(api, app, as_operator, email)
    await deposit(api, customer, 1_000, as_operator)
    response = await api.post(f"/api/customers/{customer['id']}/{path}", json={"amount_cents": 100},
                              headers=as_viewer)
    problem = assert_problem(response, 403, "forbidden")
    assert problem["permission"] == ("DEPOSIT_CREATE" if path == "deposits" else "WITHDRAWAL_CREATE")
    account = await get_account(api, customer, as_viewer)
    assert account["balance_cents"] == 1_000


@pytest.mark.parametrize("operation", ["deposits", "withdrawals"])
async def test_no_posting_lands_after_a_deactivation_that_was_under_way(
        api: Client, app: Litestar, as_operator: Headers, email: str, operation: str) -> None:
    """A deactivation holds the customer's row from its status change to its commit (as the endpoint
    does); a posting that starts meanwhile waits for it, then sees the suspension and writes nothing."""
    customer = await new_customer(api, app, as_operator, email)
    await deposit(api, customer, 500, as_operator)
    customer_id = uuid.UUID(customer["id"])
    async with app.state.sessions() as deactivation, app.state.sessions() as observer:
        await deactivation.begin()
        await deactivation.execute(select(CustomerRecord.id).where(CustomerRecord.id == customer_id)
                                   .with_for_update())
        await deactivation.execute(update(CustomerRecord).where(CustomerRecord.id == customer_id)
                                   .values(activity_status=ActivityStatus.SUSPENDED.value))
        posting = asyncio.create_task(api.post(f"/api/customers/{customer['id']}/{operation}",
                                               json={"amount_cents": 100}, headers=as_operator))

        async def posting_waits_or_is_done() -> bool:
            waiting = await observer.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%FROM customers%'"))
            await observer.rollback()
            return posting.done() or bool(waiting)

        await eventually(posting_waits_or_is_done, what="the posting to wait on the deactivation's lock")
        await deactivation.commit()
        response = await posting
    assert_problem(response, 409, "customer_not_active")
    assert [e["amount_cents"] for e in (await get_account(api, customer, as_operator))["entries"]] == [500]
