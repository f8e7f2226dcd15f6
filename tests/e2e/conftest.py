"""One sandbox (all fakes, the API and a worker on real sockets) for the end-to-end suite."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from sim.sandbox import Sandbox
from tests.support.databases import scratch_database

ANY_PORT = {"service": 0, "keycloak": 0, "sumsub": 0, "smtp": 0, "smtp_api": 0}


@pytest.fixture(scope="session")
async def sandbox() -> AsyncIterator[Sandbox]:
    async with scratch_database("e2e") as url, Sandbox(
        seed=7, database_url=url, queue_url=os.environ.get("QUEUE_URL"), ports=ANY_PORT,
        queue_name=f"e2e-{uuid.uuid4().hex[:8]}",
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
async def operator(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with await sandbox.api() as client:
        yield client
