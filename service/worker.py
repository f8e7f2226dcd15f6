"""The SAQ worker: which jobs it runs and with what resources.

Job settings (timeouts, retries, backoff) are set where each job is enqueued, never left at
SAQ's defaults of 10 s and a single attempt.
"""

from __future__ import annotations

from typing import cast

import structlog
from saq import Queue, Worker
from saq.types import Context

from service.db.engine import create_engine, resolve_database_url, session_factory
from service.kyc.jobs import kyc_cron_jobs, process_kyc_callback
from service.logging import log_job_outcome
from service.provisioning.directory import CustomerDirectory
from service.provisioning.jobs import PROVISIONING_JOBS, provisioning_cron_jobs
from service.queue import create_queue
from service.relay import Relay
from service.runtime import settle_after_start
from service.settings import Settings
from service.worker_context import WorkerContext, WorkerResources, resources

__all__ = ["build_worker", "ping"]

log = structlog.get_logger(__name__)

# How long a worker's idle job slot waits for a job before it asks again. SAQ's default, 0, waits for
# ever; on Python 3.11, asyncio.wait_for can swallow a cancellation that lands as its own timeout
# fires, and SAQ's listener waits in a loop of one-second wait_for calls: a worker being stopped then
# kept one slot waiting for good, and the stop with it (a sandbox's Ctrl-C hung about one time in
# ten). With a timeout the slot's wait ends by itself, cancellation or not; an idle worker asks the
# queue about once a period (the slots share one query).
DEQUEUE_TIMEOUT_SECONDS = 2.0


async def ping(ctx: Context, *, token: str) -> str:
    """A round trip through the queue: the sandbox and readiness tooling use it to see a worker is up."""
    return token


def build_worker(settings: Settings, database_url: str, *, concurrency: int | None = None,
                 handle_signals: bool = True, own_process: bool = False) -> Worker:
    """``handle_signals=False`` for a worker inside a host program (the sandbox, tests): the host
    owns SIGINT and SIGTERM and stops the worker itself. ``own_process``: the worker is all its
    process runs, so the collector is settled once it has started (``service.runtime``)."""
    queue: Queue = create_queue(settings, database_url)
    concurrency = concurrency or settings.worker_concurrency
    # a connection for each job that may run at once: a smaller pool would open and close connections
    # all through a burst (each costs the server a new backend)
    engine = create_engine(database_url, max(settings.database_pool_size, concurrency))

    relays: list[Relay] = []

    async def startup(ctx: Context) -> None:
        # the context given here is shared by every job of this process; each job gets a copy of it
        worker = WorkerResources(
            settings=settings, sessions=session_factory(engine), queue=queue,
            directory=CustomerDirectory(settings) if settings.keycloak_client_secret else None)
        cast(WorkerContext, ctx)["resources"] = worker
        relay = Relay(worker.sessions, queue, settings, database_url)
        relay.start()
        relays.append(relay)
        if own_process:
            settle_after_start()
        log.info("worker.started", queue=queue.name)

    async def shutdown(ctx: Context) -> None:
        while relays:
            await relays.pop().stop()
        directory = resources(ctx).directory
        if directory is not None:
            await directory.aclose()
        await engine.dispose()

    worker = Worker(
        queue,
        functions=[ping, process_kyc_callback, *PROVISIONING_JOBS],  # type: ignore[list-item]
        cron_jobs=[*kyc_cron_jobs(), *provisioning_cron_jobs()],
        concurrency=concurrency,
        dequeue_timeout=DEQUEUE_TIMEOUT_SECONDS,
        startup=startup,
        timers={"sweep": settings.worker_sweep_seconds},  # type: ignore[arg-type]
        shutdown=shutdown,
        after_process=_after_process,
    )
    if not handle_signals:
        worker.SIGNALS = []
    return worker


async def _after_process(ctx: Context) -> None:
    # a retry is one line, a final failure one line with its traceback (SAQ's own lines are filtered)
    log_job_outcome(ctx)


async def run_worker(settings: Settings) -> None:
    database_url, _ = await resolve_database_url(settings)
    worker = build_worker(settings, database_url, own_process=True)
    await worker.queue.connect()
    try:
        await worker.start()
    finally:
        await worker.queue.disconnect()
