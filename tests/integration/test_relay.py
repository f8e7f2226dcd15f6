"""The relay: rows of one customer relayed together become one job, keyed by the newest row."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from litestar import Litestar
from saq import Queue

from service.db.models import KycCallbackRecord
from service.kyc.jobs import process_kyc_callback
from service.queue import job_name
from service.relay import FEEDS, Relay
from service.settings import Settings

pytestmark = pytest.mark.usefixtures("api")  # the app's sessions exist once the app has started


class RecordingQueue:
    def __init__(self) -> None:
        self.enqueued: list[tuple[str, dict[str, Any]]] = []

    async def enqueue(self, name: str, **arguments: Any) -> None:
        self.enqueued.append((name, arguments))


async def test_callbacks_of_one_customer_relayed_together_make_one_job(app: Litestar, settings: Settings) -> None:
    ada, bob = str(uuid.uuid4()), str(uuid.uuid4())
    async with app.state.sessions.begin() as session:
        rows = [KycCallbackRecord(idempotency_key=f"relay-{uuid.uuid4().hex}", type=kind, external_user_id=who,
                                  applicant_id=None, payload={"type": kind})
                for who, kind in ((ada, "applicantCreated"), (bob, "applicantCreated"), (ada, "applicantReviewed"))]
        session.add_all(rows)
        await session.flush()
        ada_first, bob_only, ada_last = (row.id for row in rows)
    queue = RecordingQueue()
    relay = Relay(app.state.sessions, cast(Queue, queue), settings, settings.database_url or "")
    await relay.relay_once(FEEDS[0])

    mine = {arguments["callback_id"]: arguments for name, arguments in queue.enqueued
            if name == job_name(process_kyc_callback) and arguments["callback_id"] in (ada_last, bob_only, ada_first)}
    assert set(mine) == {ada_last, bob_only}
    assert mine[ada_last]["key"] == f"kyc-callback:{ada_last}"
    assert mine[ada_last]["earlier"] == [ada_first]
    assert "earlier" not in mine[bob_only]
