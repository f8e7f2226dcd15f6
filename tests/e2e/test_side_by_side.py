"""Sandboxes that live side by side: two ``sim up`` stacks started at the same moment from one
checkout, on one database server, each take a customer to active without touching the other;
each creates, and drops on stop, a database of its own, and none ever adopts one it did not create."""

from __future__ import annotations

import asyncio
import os
import secrets
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from service.settings import read_dotenv
from sim.databases import create_new_database, drop_database
from sim.sandbox import DATABASE_PREFIX, Sandbox, SandboxNameTaken
from sim.servers import bind_socket
from tests.support.databases import server_url
from tests.support.sim_commands import sim_command
from tests.support.waiting import eventually

ANY_PORT = {"service": 0, "keycloak": 0, "sumsub": 0, "smtp": 0, "smtp_api": 0}


async def databases_named(server: str, names: list[str]) -> set[str]:
    url = make_url(server).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(url) as connection:
        cursor = await connection.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s::text[])", (names,))
        rows = await cursor.fetchall()
    return {row[0] for row in rows}


async def onboard(env: dict[str, str]) -> dict[str, object]:
    """One customer, created, through KYC (driven over the Sumsub fake's admin API), to active."""
    async with httpx.AsyncClient(timeout=15) as http:
        token = (await http.post(
            f"{env['KEYCLOAK_URL']}realms/{env['KEYCLOAK_ADMIN_REALM']}/protocol/openid-connect/token",
            data={"grant_type": "password", "client_id": env["OPERATOR_CLIENT_ID"],
                  "username": env["OPERATOR_USERNAME"], "password": env["OPERATOR_PASSWORD"]},
        )).json()["access_token"]
        api = f"{env['SERVICE_URL']}/api/customers"
        auth = {"Authorization": f"Bearer {token}"}
        # the same email in both stacks: it can only be created twice if they share nothing
        created = await http.post(api, headers=auth, json={"email": "ada@example.com", "customer_type": "individual"})
        assert created.status_code == 201, created.text
        customer_id = created.json()["id"]
        link = await http.post(f"{api}/{customer_id}/kyc-link", headers=auth)
        assert link.status_code == 200, link.text
        applicant = link.json()["applicant_id"]
        admin = f"{env['SUMSUB_URL']}/__admin/applicants/{applicant}"
        assert (await http.post(f"{admin}/submit")).status_code == 200
        assert (await http.post(f"{admin}/review", json={"answer": "GREEN"})).status_code == 200

        async def customer() -> dict[str, object]:
            answer: dict[str, object] = (await http.get(f"{api}/{customer_id}", headers=auth)).json()
            return answer

        await eventually(customer, until=lambda c: c["activity_status"] == "active", timeout=90,
                         what=f"customer {customer_id} active in stack {env['SANDBOX_NAME']}")
        listed = (await http.get(api, headers=auth)).json()["items"]
        mail = (await http.get(f"{env['SMTP_API_URL']}/api/v1/messages")).json()
        applicants = (await http.get(f"{env['SUMSUB_URL']}/__admin/applicants")).json()["applicants"]
        return {"customer_id": customer_id, "customers": [c["id"] for c in listed],
                "mail_to": [m["To"][0]["Address"] for m in mail["messages"]],
                "applicant_users": [a["externalUserId"] for a in applicants]}


async def test_two_stacks_started_together_onboard_customers_without_touching_each_other(tmp_path: Path) -> None:
    server = await server_url()
    names = [f"qa_{os.getpid()}_{secrets.token_hex(3)}_{suffix}" for suffix in ("a", "b")]
    env_file = tmp_path / "stack.env"
    taken = bind_socket()  # a port someone else holds: both stacks are asked for it
    try:
        wanted = str(taken.getsockname()[1])
        async with AsyncExitStack() as running:
            stacks = [
                await running.enter_async_context(sim_command(
                    tmp_path / f"{name}.log", "up", "--name", name, "--env-file", str(env_file), "--any-ports",
                    "--port", wanted, env={"DATABASE_URL": server}))
                for name in names
            ]
            outputs = await asyncio.gather(*(stack.wait_for_output("Stop with Ctrl-C") for stack in stacks))
            assert await databases_named(server, [DATABASE_PREFIX + name for name in names]) == \
                {DATABASE_PREFIX + name for name in names}
            for output in outputs:
                assert f"port {wanted} is taken: service listens on" in output
            # one holds stack.env; the other says so and writes its own beside it
            assert sum("belongs to another running stack" in output for output in outputs) == 1
            env_files = await asyncio.to_thread(lambda: sorted(tmp_path.glob("stack*.env")))
            envs = {env["SANDBOX_NAME"]: env for env in map(read_dotenv, env_files)}
            assert set(envs) == set(names)
            assert len({env["SERVICE_URL"] for env in envs.values()}) == 2
            assert len({env["QUEUE_NAME"] for env in envs.values()}) == 2

            results = await asyncio.gather(*(onboard(envs[name]) for name in names))
            for result in results:
                assert result["customers"] == [result["customer_id"]]
                assert result["mail_to"] == ["ada@example.com"]
                assert result["applicant_users"] == [result["customer_id"]]
            assert results[0]["customer_id"] != results[1]["customer_id"]

            for stack in stacks:
                assert await stack.interrupt() == 0, stack.output()[-3000:]
    finally:
        taken.close()
    assert await databases_named(server, [DATABASE_PREFIX + name for name in names]) == set()


async def test_a_sandbox_refuses_a_name_whose_database_it_did_not_create_and_leaves_it_alone() -> None:
    server = await server_url()
    name = f"qa_{os.getpid()}_{secrets.token_hex(3)}"
    database = DATABASE_PREFIX + name
    await create_new_database(server, database, comment="made by hand")
    try:
        with pytest.raises(SandboxNameTaken, match=database):
            async with Sandbox(name=name, ports=ANY_PORT):
                pass
        assert await databases_named(server, [database]) == {database}
    finally:
        await drop_database(server, database)


async def test_a_sandbox_drops_the_database_it_created_when_it_stops() -> None:
    server = await server_url()
    async with Sandbox(ports=ANY_PORT) as stack:
        assert stack.database_url.endswith("/" + stack.database_name)
        assert await databases_named(server, [stack.database_name]) == {stack.database_name}
        assert stack.env["QUEUE_NAME"] == stack.queue_name != "onboarding"
    assert await databases_named(server, [stack.database_name]) == set()


def test_a_sandbox_name_must_make_a_safe_database_name() -> None:
    with pytest.raises(ValueError, match="sandbox name"):
        Sandbox(name='x"; DROP DATABASE onboarding; --')
    assert Sandbox().name != Sandbox().name
