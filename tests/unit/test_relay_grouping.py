"""Rows of one customer relayed together make one job, keyed by the newest row."""

from __future__ import annotations

from typing import Any, cast

from saq import Queue

from service.kyc.jobs import enqueue_callbacks, process_kyc_callback
from service.provisioning.jobs import enqueue_outbox_events, provision_customer
from service.queue import job_name
from service.relay import by_owner
from service.settings import load_settings

SETTINGS = load_settings({})


class RecordingQueue:
    def __init__(self) -> None:
        self.enqueued: list[tuple[str, dict[str, Any]]] = []

    async def enqueue(self, name: str, **arguments: Any) -> None:
        self.enqueued.append((name, arguments))


def test_rows_are_grouped_by_their_owner_in_order() -> None:
    rows = [(1, "ada", None), (2, "bob", None), (3, "ada", None), (4, None, "app-9"), (5, "ada", "app-1")]
    assert by_owner(rows) == [[1, 3], [2], [4], [5]]


async def test_callbacks_of_one_customer_make_one_fold_job_keyed_by_the_newest() -> None:
    queue = RecordingQueue()
    await enqueue_callbacks(cast(Queue, queue), SETTINGS, [[7, 3, 5]])
    [(name, arguments)] = queue.enqueued
    assert name == job_name(process_kyc_callback) == "process_kyc_callback"
    assert (arguments["key"], arguments["callback_id"], arguments["earlier"]) == ("kyc-callback:7", 7, [3, 5])
    assert (arguments["retries"], arguments["timeout"]) == (SETTINGS.job_max_attempts, SETTINGS.job_timeout_seconds)


async def test_a_single_callback_has_no_earlier_ones() -> None:
    queue = RecordingQueue()
    await enqueue_callbacks(cast(Queue, queue), SETTINGS, [[4]])
    assert "earlier" not in queue.enqueued[0][1]


async def test_events_of_one_customer_make_one_provisioning_job_for_the_newest() -> None:
    queue = RecordingQueue()
    await enqueue_outbox_events(cast(Queue, queue), SETTINGS, [[11, 12]])
    assert queue.enqueued == [(job_name(provision_customer), {
        "key": "outbox:12", "outbox_id": 12, "timeout": SETTINGS.job_timeout_seconds,
        "retries": SETTINGS.job_max_attempts, "retry_delay": SETTINGS.job_backoff_base_seconds,
        "retry_backoff": SETTINGS.job_backoff_max_seconds})]
