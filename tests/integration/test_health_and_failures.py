"""Liveness, readiness, request ids, and what callers see when the database is away."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from service.app import create_app
from service.settings import Settings
from sim.servers import serve_asgi


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe is closed


async def test_live_and_ready(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health/live")).json() == {"status": "ok"}
    ready = await api.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "queue": "ok"}


async def test_a_request_id_is_made_or_kept_and_echoed(api: httpx.AsyncClient) -> None:
    made = await api.get("/health/live")
    assert len(made.headers["x-request-id"]) == 32
    kept = await api.get("/health/live", headers={"X-Request-ID": "trace-abc.123"})
    assert kept.headers["x-request-id"] == "trace-abc.123"
    refused = await api.get("/health/live", headers={"X-Request-ID": "bad id with spaces"})
    assert refused.headers["x-request-id"] != "bad id with spaces"


async def test_errors_are_problem_details_with_the_request_id(api: httpx.AsyncClient) -> None:
    response = await api.get("/no/such/path", headers={"X-Request-ID": "trace-404"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert {problem["type"], problem["code"], problem["request_id"]} == {"/problems/not-found", "not_found",
                                                                         "trace-404"}


async def test_the_openapi_schema_documents_every_route(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/schema/openapi.json")).json()
    assert {"/api/customers", "/api/customers/{customer_id}/kyc-link", "/webhooks/sumsub",
            "/api/customers/{customer_id}/withdrawals", "/portal/me"} <= set(schema["paths"])


@pytest.fixture
async def without_database(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The service with its database gone; the queue on Redis when configured, else on the dead database."""
    dead = f"postgresql://postgres@127.0.0.1:{closed_port()}/gone"
    queue_url = settings.queue_url or "redis://127.0.0.1:6379/0"
    app = create_app(msgspec.structs.replace(settings, database_url=dead, queue_url=queue_url),
                     migrate_on_start=False)
    server = await serve_asgi(app)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client
    await server.stop()


async def test_without_the_database_readiness_fails_and_callbacks_get_a_5xx(
        without_database: httpx.AsyncClient, settings: Settings) -> None:
    ready = await without_database.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("failed")
    body = json.dumps({"type": "applicantPending", "correlationId": "c", "createdAtMs": "2026-01-01 00:00:00.000"})
    assert settings.sumsub_webhook_secret
    digest = hmac.new(settings.sumsub_webhook_secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    callback = await without_database.post("/webhooks/sumsub", content=body, headers={
        "X-Payload-Digest": digest, "X-Payload-Digest-Alg": "HMAC_SHA256_HEX"})
    assert callback.status_code >= 500  # so Sumsub sends it again later
