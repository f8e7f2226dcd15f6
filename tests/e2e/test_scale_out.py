"""The service scaled out: API and worker processes of their own, sharing one database and one queue.

Several processes must still give each approved customer one login, one welcome email and one
deposit account, and a worker that dies in the middle of a job must leave it to another one.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from service.customers.domain import CustomerType
from service.db.engine import libpq_url
from service.queue import create_queue
from sim.sandbox import Sandbox
from sim.scenario import create_customer, keycloak_users_of, start_kyc, wait_for_customer
from tests.support.databases import scratch_database
from tests.support.processes import ServiceProcess, ServiceProcesses, free_port
from tests.support.waiting import eventually

ANY_PORT = {"service": 0, "keycloak": 0, "sumsub": 0, "smtp": 0, "smtp_api": 0}
ACTIVATION_STEPS = {"keycloak_user": "done", "welcome_email": "done", "deposit_account": "done"}
# python-keycloak reaches both the attribute search (GET ?q=) and user creation (POST) by this path
CUSTOMER_USERS = r"/admin/realms/customer/users$"


@pytest.fixture
async def stack() -> AsyncIterator[Sandbox]:
    """The fakes on a fresh database and queue; the service is left to processes the test starts."""
    async with scratch_database("scale") as url, Sandbox(
            seed=11, database_url=url, queue_url=os.environ.get("QUEUE_URL"), ports=ANY_PORT,
            queue_name=f"scale-{uuid.uuid4().hex[:8]}", run_service=False) as sandbox:
        yield sandbox


async def operator_client(stack: Sandbox, exits: AsyncExitStack, api: ServiceProcess) -> httpx.AsyncClient:
    token = await stack.operator_token()
    client = httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return await exits.enter_async_context(client)


async def shown(operator: httpx.AsyncClient, customer: dict[str, Any]) -> dict[str, Any]:
    response = await operator.get(f"/api/customers/{customer['id']}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def deposit_accounts_in_ledger(stack: Sandbox, customer: dict[str, Any]) -> int:
    async with await psycopg.AsyncConnection.connect(libpq_url(stack.database_url)) as connection:
        cursor = await connection.execute("SELECT count(*) FROM ledger_accounts WHERE external_id = %s",
                                          (customer["id"],))
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def assert_one_of_everything(stack: Sandbox, operator: httpx.AsyncClient, customer: dict[str, Any]) -> None:
    now = await shown(operator, customer)
    assert (now["activity_status"], now["kyc_status"]) == ("active", "approved")
    assert {step: state["status"] for step, state in now["provisioning"].items()} == ACTIVATION_STEPS
    assert len(keycloak_users_of(stack.keycloak, customer["id"])) == 1
    await stack.smtp.wait_for(to=customer["email"], subject="Welcome", timeout=10)
    assert len(stack.smtp.search(to=customer["email"])) == 1
    account = await operator.get(f"/api/customers/{customer['id']}/account")
    assert account.status_code == 200, account.text
    assert account.json()["account_set"] == f"deposit-{customer['customer_type'].replace('_', '-')}-account-set"
    assert await deposit_accounts_in_ledger(stack, customer) == 1


async def until_workers_registered(stack: Sandbox, count: int) -> None:
    """SAQ's own registry of live workers (each writes itself there as it starts) lists ``count`` of them."""
    assert stack.settings is not None
    queue = create_queue(stack.settings, stack.database_url)
    await queue.connect()
    try:
        async def registered() -> int:
            return len((await queue.info())["workers"])

        await eventually(registered, until=lambda n: n == count, timeout=30, what=f"{count} workers registered")
    finally:
        await queue.disconnect()


def processes_alive(*processes: ServiceProcess) -> None:
    for process in processes:
        assert process.running, f"{process.name} exited with {process.popen.returncode}:\n{process.log_tail()}"


async def test_two_apis_and_two_workers_give_each_customer_one_of_everything(stack: Sandbox, tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    stack.attach_service(f"http://127.0.0.1:{ports[0]}")
    # every webhook reaches the service twice
    stack.network.duplicate(1, match=None, count=None)
    environment = {**stack.service_environment(), "LOG_LEVEL": "WARNING"}
    async with ServiceProcesses(tmp_path, environment) as processes, AsyncExitStack() as exits:
        apis = [await processes.start_api(f"api-{n}", port=port) for n, port in enumerate(ports, start=1)]
        workers = [processes.start_worker(f"worker-{n}") for n in (1, 2)]
        await until_workers_registered(stack, 2)  # both take jobs from the first customer on
        operators = [await operator_client(stack, exits, api) for api in apis]

        customer_types = itertools.cycle(t.value for t in CustomerType)
        customers = []
        for number in range(8):
            if number == 4:  # from here on, Sumsub calls the second API back
                stack.attach_service(apis[1].url)
            operator = operators[number % 2]
            customer = await create_customer(operator, "scale", next(customer_types))
            stack.sumsub.review((await start_kyc(operator, customer["id"]))["applicant_id"], "GREEN")
            customers.append(customer)

        for number, customer in enumerate(customers):
            await wait_for_customer(operators[(number + 1) % 2], customer["id"], status="active", timeout=40)
        processes_alive(*apis, *workers)
        # checked once every customer is active, so a late duplicate of an early one is seen too
        for number, customer in enumerate(customers):
            await assert_one_of_everything(stack, operators[number % 2], customer)

        async def copies_arrived() -> int:
            return sum(1 for r in stack.network.arrivals() if r.copy == 1)

        sent = len(stack.network.records("sent"))
        await eventually(copies_arrived, until=lambda n: n == sent, what="a copy of every webhook delivered")
        arrivals = stack.network.arrivals()
        assert {r.message.url for r in arrivals} == {f"{api.url}/webhooks/sumsub" for api in apis}
        assert {r.status for r in arrivals} == {200}
        processes_alive(*apis, *workers)


async def test_a_worker_killed_in_the_middle_of_a_job_leaves_it_to_another(stack: Sandbox, tmp_path: Path) -> None:
    port = free_port()
    stack.attach_service(f"http://127.0.0.1:{port}")
    environment = {**stack.service_environment(), "LOG_LEVEL": "INFO",
                   "JOB_TIMEOUT_SECONDS": "6", "WORKER_SWEEP_SECONDS": "1"}
    async with ServiceProcesses(tmp_path, environment) as processes, AsyncExitStack() as exits:
        api = await processes.start_api("api", port=port)
        doomed = processes.start_worker("worker-a")
        operator = await operator_client(stack, exits, api)
        customer = await create_customer(operator, "scale")
        applicant_id = (await start_kyc(operator, customer["id"]))["applicant_id"]
        # the Keycloak step's first request (its search for the customer's user) hangs, far longer than the
        # test needs to notice it and kill worker A, however loaded the machine
        stack.keycloak.faults.slow(15.0, count=1, path=CUSTOMER_USERS)
        stack.sumsub.review(applicant_id, "GREEN")

        async def held_requests() -> list[Any]:
            return [f for f in stack.keycloak.faults.journal if f.kind == "slow"]

        held = await eventually(held_requests, timeout=30, what="worker A's Keycloak request held")
        assert [(f.method, f.path) for f in held] == [("GET", "/admin/realms/customer/users")]
        await doomed.kill()

        before = await shown(operator, customer)
        assert before["provisioning"]["keycloak_user"]["status"] == "pending"
        assert keycloak_users_of(stack.keycloak, customer["id"]) == []
        assert "step=keycloak_user" not in doomed.log()

        survivor = processes.start_worker("worker-b")
        after = await wait_for_customer(operator, customer["id"], status="active", timeout=40)
        assert after["provisioning"]["keycloak_user"]["attempts"] >= 1
        await assert_one_of_everything(stack, operator, customer)
        done_here = [line for line in survivor.log().splitlines()
                     if "provisioning.step_done" in line and customer["id"] in line and "step=keycloak_user" in line]
        assert len(done_here) == 1, survivor.log_tail()
        processes_alive(api, survivor)
