"""What an operator on call reads: `python -m service api` with LOG_JSON=true writes one JSON object a
line, and each request one access-log line, 4xx included, found by its request id."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from sim.keycloak import KeycloakFake
from tests.support.processes import REPOSITORY, ServiceProcesses, free_port
from tests.support.waiting import eventually


async def test_each_request_is_one_json_line_found_by_its_request_id(
    tmp_path: Path, database_url: str, keycloak: KeycloakFake, as_operator: dict[str, str],
) -> None:
    environment = {
        "DATABASE_URL": database_url, "LOG_JSON": "true", "KEYCLOAK_URL": keycloak.base_url,
        "KEYCLOAK_ADMIN_REALM": keycloak.admin_realm, "KEYCLOAK_CUSTOMER_REALM": keycloak.customer_realm,
    }
    calls = {"log-ok": (as_operator, "/api/customers", 200), "log-404": (as_operator, "/api/customers/C9999999", 404),
             "log-401": ({}, "/api/customers", 401)}
    async with ServiceProcesses(tmp_path, environment) as processes:
        api = await processes.start_api("api")
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            for request_id, (headers, path, status) in calls.items():
                response = await http.get(path, headers={**headers, "X-Request-ID": request_id})
                assert response.status_code == status
                assert response.headers["x-request-id"] == request_id

        def lines() -> list[dict[str, Any]]:
            return [json.loads(line) for line in api.log().splitlines() if line.strip()]

        async def logged() -> list[dict[str, Any]]:
            return [line for line in lines() if line.get("event") == "request" and line["request_id"] in calls]

        await eventually(logged, until=lambda found: len(found) >= len(calls), timeout=10, what="access-log lines")
        await processes.stop_all()

    every_line = lines()  # each one a JSON object, or json.loads above has failed
    for request_id, (_, path, status) in calls.items():
        [line] = [line for line in every_line if line.get("event") == "request" and line["request_id"] == request_id]
        assert line["method"] == "GET"
        assert line["path"] == path
        assert line["status"] == status
        assert line["duration_ms"] >= 0
        assert line["level"] == "info"
        assert ("subject" in line) is (request_id != "log-401"), line
    assert [line for line in every_line if line.get("request_id") == "log-ok" and line.get("subject")]
    # uvicorn's own access line ("GET /api/customers HTTP/1.1" 200) would say the same again
    assert not [line for line in every_line if "HTTP/1.1" in json.dumps(line)]


async def test_litestar_run_logs_the_same_one_json_line_per_request(tmp_path: Path, database_url: str) -> None:
    port, log_path = free_port(), tmp_path / "litestar-run.log"
    environment = {**os.environ, "DATABASE_URL": database_url, "LOG_JSON": "true", "ENV_FILE": os.devnull}
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "litestar", "--app", "service.asgi:app", "run", "--port", str(port),
            cwd=REPOSITORY, env=environment, stdout=log, stderr=asyncio.subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            async def live() -> int | None:
                try:
                    return (await http.get("/health/live", headers={"X-Request-ID": "run-1"})).status_code
                except httpx.TransportError:
                    return None
            await eventually(live, until=lambda status: status == 200, timeout=60, what="litestar run serving")
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert len([line for line in lines if line.get("request_id") == "run-1"]) == 1
    assert not [line for line in lines if "HTTP/1.1" in json.dumps(line)]


async def test_a_stored_callback_is_named_on_its_requests_one_line(tmp_path: Path, database_url: str) -> None:
    secret = "log-test-webhook-secret"
    environment = {"DATABASE_URL": database_url, "LOG_JSON": "true", "SUMSUB_WEBHOOK_SECRET": secret}
    body = json.dumps({"type": "applicantPending", "externalUserId": "log-test-customer",
                       "correlationId": f"log-{tmp_path.name}", "createdAtMs": "2026-11-25 10:00:00.000"}).encode()
    signed = {"X-Payload-Digest": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
              "X-Payload-Digest-Alg": "HMAC_SHA256_HEX", "content-type": "application/json"}
    async with ServiceProcesses(tmp_path, environment) as processes:
        api = await processes.start_api("api")
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            for request_id in ("hook-stored", "hook-again"):
                response = await http.post("/webhooks/sumsub", content=body,
                                           headers={**signed, "X-Request-ID": request_id})
                assert response.status_code == 200, response.text

        def lines() -> list[dict[str, Any]]:
            return [json.loads(line) for line in api.log().splitlines() if line.strip()]

        await eventually(lambda: _async([line for line in lines() if line.get("event") == "request"
                                         and line.get("request_id") == "hook-again"]),
                         until=bool, timeout=10, what="the second callback's request line")
        await processes.stop_all()
    stored = [line for line in lines() if line.get("request_id") == "hook-stored"]
    again = [line for line in lines() if line.get("request_id") == "hook-again"]
    [line] = stored  # the request line, and no second line of the handler's
    assert (line["event"], line["status"], line["type"]) == ("request", 200, "applicantPending")
    assert isinstance(line["callback_id"], int)
    [line] = again
    assert (line["event"], line["callback"]) == ("request", "duplicate")


async def _async(value: Any) -> Any:
    return value
