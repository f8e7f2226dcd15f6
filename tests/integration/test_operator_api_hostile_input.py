"""The operator API against hostile and careless input: every answer is a 4xx problem, never a 5xx."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

Client = httpx.AsyncClient
Headers = dict[str, str]


async def create(api: Client, headers: Headers, **body: Any) -> Any:
    body.setdefault("customer_type", "individual")
    body.setdefault("email", f"hostile.{uuid.uuid4().hex[:12]}@example.com")
    response = await api.post("/api/customers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("q", ["\x00", "ada\x00@example.com", "C1000\x00"])
async def test_a_nul_byte_in_the_search_is_a_422_naming_q(api: Client, as_operator: Headers, q: str) -> None:
    response = await api.get("/api/customers", params={"q": q}, headers=as_operator)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "q"


@pytest.mark.parametrize("path", ["/api/customers/%00", "/api/customers/C1000%00", "/api/customers/%00/account",
                                  "/api/customers/%00/kyc-link"])
async def test_a_nul_byte_in_a_customer_reference_is_a_404(api: Client, as_operator: Headers, path: str) -> None:
    method = "POST" if path.endswith("kyc-link") else "GET"
    response = await api.request(method, path, headers=as_operator)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def _a_cursor(api: Client, headers: Headers) -> str:
    tag = uuid.uuid4().hex[:10]
    for n in range(2):
        await create(api, headers, email=f"cursor{n}.{tag}@example.com")
    page = (await api.get("/api/customers", params={"q": tag, "limit": 1}, headers=headers)).json()
    assert page["next_cursor"]
    return str(page["next_cursor"])


def _unsigned(created_at: str) -> str:
    """A cursor of the old, unsigned shape: base64 of [created_at, id]."""
    raw = json.dumps([created_at, str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                        "2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00"])
async def test_a_cursor_the_api_did_not_sign_is_a_422(api: Client, as_operator: Headers, created_at: str) -> None:
    response = await api.get("/api/customers", params={"cursor": _unsigned(created_at)}, headers=as_operator)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "cursor"


async def test_a_tampered_cursor_is_a_422_and_an_issued_one_pages_on(api: Client, as_operator: Headers) -> None:
    cursor = await _a_cursor(api, as_operator)
    assert (await api.get("/api/customers", params={"cursor": cursor}, headers=as_operator)).status_code == 200
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    response = await api.get("/api/customers", params={"cursor": flipped}, headers=as_operator)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "cursor"


@pytest.mark.parametrize(("first", "second"), [("0012345{n}", "12345{n}"), ("@Ada_{n}", "ada_{n}"),
                                               ("ADA_{n}", "@ada_{n}")])
async def test_one_telegram_account_in_two_spellings_is_a_409(api: Client, as_operator: Headers,
                                                              first: str, second: str) -> None:
    n = str(uuid.uuid4().int)[:8]
    created = await create(api, as_operator, telegram_id=first.format(n=n))
    response = await api.post("/api/customers", headers=as_operator, json={
        "email": f"second.{uuid.uuid4().hex[:12]}@example.com", "customer_type": "individual",
        "telegram_id": second.format(n=n)})
    assert response.status_code == 409, response.text
    assert response.json()["field"] == "telegram_id"
    assert created["telegram_id"] in {f"12345{n}", f"ada_{n}"}
