"""``python -m sim up`` as a person runs it: a process, an env file, curl-like calls, Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from service.settings import read_dotenv
from tests.support.databases import scratch_database
from tests.support.waiting import eventually

CONTRACT_VARIABLES = {
    "SERVICE_URL", "SUMSUB_WEBHOOK_SECRET", "SUMSUB_URL", "SUMSUB_APP_TOKEN", "SUMSUB_SECRET_KEY", "KEYCLOAK_URL",
    "KEYCLOAK_ADMIN_REALM", "KEYCLOAK_CUSTOMER_REALM", "KEYCLOAK_CLIENT_ID", "KEYCLOAK_CLIENT_SECRET",
    "OPERATOR_CLIENT_ID", "OPERATOR_USERNAME", "OPERATOR_PASSWORD", "PORTAL_CLIENT_ID", "SMTP_HOST", "SMTP_PORT",
    "SMTP_API_URL", "VIEWER_USERNAME", "VIEWER_PASSWORD",
}


async def test_sim_up_writes_the_env_file_serves_the_stack_and_stops_on_interrupt(tmp_path: Path) -> None:
    env_file, log_file = tmp_path / "stack.env", tmp_path / "sim-up.log"
    async with scratch_database("simup") as database_url:
        with log_file.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sim", "up", "--env-file", str(env_file), "--seed", "3", "--any-ports",
                env={**os.environ, "DATABASE_URL": database_url}, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )
        try:
            async def written() -> bool:
                return env_file.exists() and "SMTP_API_URL" in env_file.read_text()
            await eventually(written, timeout=60, what=f"the env file written ({log_file})")
            env = read_dotenv(env_file)
            assert set(env) >= CONTRACT_VARIABLES
            assert oct(env_file.stat().st_mode & 0o777) == "0o600"

            async with httpx.AsyncClient(timeout=10) as http:
                token = (await http.post(
                    f"{env['KEYCLOAK_URL']}realms/{env['KEYCLOAK_ADMIN_REALM']}/protocol/openid-connect/token",
                    data={"grant_type": "password", "client_id": env["OPERATOR_CLIENT_ID"],
                          "username": env["OPERATOR_USERNAME"], "password": env["OPERATOR_PASSWORD"]},
                )).json()["access_token"]
                auth = {"Authorization": f"Bearer {token}"}
                created = await http.post(f"{env['SERVICE_URL']}/api/customers", headers=auth,
                                          json={"email": "ada@example.com", "customer_type": "individual"})
                assert created.status_code == 201, created.text
                link = await http.post(f"{env['SERVICE_URL']}/api/customers/{created.json()['public_id']}/kyc-link",
                                       headers=auth)
                assert link.status_code == 200, link.text
                assert link.json()["url"].startswith(env["SUMSUB_URL"])
                listed = await http.get(f"{env['SERVICE_URL']}/api/customers", params={"q": "ada@"}, headers=auth)
                assert [c["email"] for c in listed.json()["items"]] == ["ada@example.com"]
                assert (await http.get(f"{env['SMTP_API_URL']}/api/v1/messages")).json()["total"] == 0
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()  # never leave a whole stack running behind a failed test
                await process.wait()
                raise
        output = log_file.read_bytes()
        assert process.returncode == 0, output.decode()[-2000:]
        assert b"The onboarding sandbox is up" in output
        assert env["OPERATOR_PASSWORD"].encode() not in output  # secrets stay in the file
