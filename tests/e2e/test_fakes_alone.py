"""Each fake on its own, as a person starts it (``python -m sim keycloak|sumsub|smtp``): it says where
it listens, answers its protocol and its /__admin/ API, and stops on Ctrl-C."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
from litestar import Litestar, Request, post

from service.settings import read_dotenv
from sim.servers import bind_socket, served
from tests.support.sim_commands import sim_command
from tests.support.waiting import eventually


async def test_the_keycloak_fake_alone_issues_tokens_and_journals_them(tmp_path: Path) -> None:
    env_file = tmp_path / "keycloak.env"
    async with sim_command(tmp_path / "keycloak.log", "keycloak", "--port", "0", "--seed", "4",
                           "--env-file", str(env_file)) as fake:
        output = await fake.wait_for_output("Stop with Ctrl-C")
        env = read_dotenv(env_file)
        assert env["OPERATOR_PASSWORD"] not in output
        async with httpx.AsyncClient(timeout=10) as http:
            token = await http.post(
                f"{env['KEYCLOAK_URL']}realms/{env['KEYCLOAK_ADMIN_REALM']}/protocol/openid-connect/token",
                data={"grant_type": "password", "client_id": env["OPERATOR_CLIENT_ID"],
                      "username": env["OPERATOR_USERNAME"], "password": env["OPERATOR_PASSWORD"]})
            assert token.status_code == 200
            entries = (await http.get(f"{env['KEYCLOAK_ADMIN_API']}journal")).json()["entries"]
            assert [(e["method"], e["status"]) for e in entries] == [("POST", 200)]
        assert await fake.interrupt() == 0


async def test_the_sumsub_fake_alone_sends_signed_webhooks_for_reviews_driven_over_http(tmp_path: Path) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []

    @post("/hook", status_code=200)
    async def hook(request: Request[Any, Any, Any]) -> None:
        received.append((await request.body(), dict(request.headers)))

    async with served(Litestar([hook], openapi_config=None, logging_config=None)) as receiver, sim_command(
            tmp_path / "sumsub.log", "sumsub", "--port", "0", "--seed", "4", "--env-file", str(tmp_path / "s.env"),
            "--webhook-url", f"{receiver.url}/hook", "--webhook-secret", "whsec-alone") as fake:
        await fake.wait_for_output("Stop with Ctrl-C")
        env = read_dotenv(tmp_path / "s.env")
        async with httpx.AsyncClient(base_url=env["SUMSUB_URL"], timeout=10) as http:
            # the one signed call: create the applicant as the service's client would
            path = "/resources/applicants?levelName=basic-kyc-level"
            body = b'{"externalUserId": "customer-1"}'
            ts = str(int(time.time()))
            signature = hmac.new(env["SUMSUB_SECRET_KEY"].encode(), ts.encode() + b"POST" + path.encode() + body,
                                 hashlib.sha256).hexdigest()
            created = await http.post(path, content=body, headers={
                "X-App-Token": env["SUMSUB_APP_TOKEN"], "X-App-Access-Ts": ts, "X-App-Access-Sig": signature,
                "Content-Type": "application/json"})
            assert created.status_code == 200, created.text
            applicant = created.json()["id"]
            # then everything else over the admin API, unsigned
            assert (await http.post(f"/__admin/applicants/{applicant}/submit")).status_code == 200
            reviewed = await http.post(f"/__admin/applicants/{applicant}/review", json={
                "answer": "RED", "rejectType": "FINAL", "labels": ["FORGERY"]})
            assert reviewed.status_code == 200, reviewed.text

            async def types() -> list[str]:
                return [json.loads(raw)["type"] for raw, _ in received]

            await eventually(types, until=lambda seen: len(seen) >= 3, what="three webhooks")
            assert sorted(await types()) == ["applicantCreated", "applicantPending", "applicantReviewed"]
            for raw, headers in received:
                assert headers["x-payload-digest"] == hmac.new(b"whsec-alone", raw, hashlib.sha256).hexdigest()

            async def acknowledged() -> list[str]:
                # the sender journals an attempt once it has the answer, a moment after the receiver saw it
                entries = (await http.get("/__admin/journal")).json()["entries"]
                return sorted(e["event_type"] for e in entries if e["kind"] == "webhook" and e["status"] == 200)

            await eventually(acknowledged, until=lambda seen: len(seen) >= 3, what="three acknowledged attempts")
            assert await acknowledged() == ["applicantCreated", "applicantPending", "applicantReviewed"]
        assert await fake.interrupt() == 0


async def test_the_smtp_fake_alone_captures_mail_and_shows_it_in_its_inbox(tmp_path: Path) -> None:
    taken = bind_socket()  # its SMTP port is taken: it moves and says so
    try:
        wanted = taken.getsockname()[1]
        async with sim_command(tmp_path / "smtp.log", "smtp", "--smtp-port", str(wanted), "--api-port", "0",
                               "--seed", "4") as fake:
            output = await fake.wait_for_output("Stop with Ctrl-C")
            assert f"port {wanted} is taken: smtp listens on" in output
            port = int(fake.fact("SMTP_PORT"))
            assert port != wanted
            await aiosmtplib.send("Subject: Hello\r\n\r\nTemporary password: abc\r\n", sender="bank@example.com",
                                  recipients=["ada@example.com"], hostname="127.0.0.1", port=port)
            async with httpx.AsyncClient(base_url=fake.fact("SMTP_API_URL"), timeout=10) as http:
                inbox = await http.get("/")
                assert inbox.status_code == 200
                assert "Hello" in inbox.text
                entries = (await http.get("/__admin/journal")).json()["entries"]
                assert [(e["kind"], e["rcpt_to"]) for e in entries] == [("message", ["ada@example.com"])]
            assert await fake.interrupt() == 0
    finally:
        taken.close()
