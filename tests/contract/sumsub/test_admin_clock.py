"""The Sumsub fake's clock over its /__admin/ API: read it, and move it on so a webhook's retry falls
due, as a scenario run against a stack in another process does (``advance_clock``)."""

from collections.abc import AsyncIterator

import httpx
import pytest

from sim.clock import VirtualClock
from sim.sumsub import SumsubFake

LEVEL = "basic-kyc-level"


@pytest.fixture
async def admin(sumsub: SumsubFake) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sumsub.app),
                                 base_url="http://sumsub.test/__admin") as client:
        yield client


async def test_the_clock_reads_as_the_fakes_own(admin: httpx.AsyncClient, clock: VirtualClock) -> None:
    answer = (await admin.get("/clock")).json()
    assert answer["fake"] == "sumsub"
    assert answer["time"] == clock.time()
    assert answer["now"] == clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_advancing_the_clock_brings_a_webhooks_retry_in(sumsub: SumsubFake, admin: httpx.AsyncClient,
                                                              receiver, clock: VirtualClock) -> None:
    receiver.answer_next(503)
    sumsub.create_applicant("customer-1", LEVEL)
    await clock.run_due()
    assert len(receiver.received) == 1  # refused; Sumsub tries again in five minutes
    start = clock.time()

    early = await admin.post("/clock/advance", json={"seconds": 299})
    assert early.status_code == 200, early.text
    assert (early.json()["time"], early.json()["ran"]) == (start + 299, 0)
    assert len(receiver.received) == 1

    due = await admin.post("/clock/advance", json={"seconds": 1})
    assert due.json()["time"] == start + 300
    assert due.json()["ran"] >= 1
    assert len(receiver.received) == 2
    assert sumsub.webhooks.deliveries[0].state == "delivered"


@pytest.mark.parametrize("body", [{"seconds": -1}, {}, {"seconds": "soon"}, {"seconds": 1, "extra": 2}])
async def test_a_clock_that_would_go_back_or_a_bad_body_is_refused(admin: httpx.AsyncClient, clock: VirtualClock,
                                                                   body: dict[str, object]) -> None:
    before = clock.time()
    answer = await admin.post("/clock/advance", json=body)
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert clock.time() == before


async def test_advancing_the_clock_is_not_journaled(admin: httpx.AsyncClient) -> None:
    await admin.post("/clock/advance", json={"seconds": 10})
    assert (await admin.get("/journal")).json()["entries"] == []
