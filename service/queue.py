"""The SAQ queue: on the service's PostgreSQL by default, on Redis when QUEUE_URL says so.

Jobs are enqueued by a reference to their function (:func:`enqueue`), never by a name spelled
as a string, so an enqueue can be followed to the code it runs; SAQ registers a worker's
functions under the same name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from saq import Job, Queue
from saq.queue.postgres import PostgresQueue

from service.db.engine import libpq_url
from service.settings import Settings

__all__ = ["JobFunction", "create_queue", "enqueue", "job_name", "job_options", "queue_backend"]

JobFunction = Callable[..., Awaitable[Any]]


def queue_backend(settings: Settings) -> str:
    return "redis" if settings.queue_url and settings.queue_url.startswith(("redis://", "rediss://")) else "postgres"


# One PostgreSQL driver: SAQ's Postgres queue is written on psycopg, and so is the rest of the service
# (SQLAlchemy's dialect, the webhook's inbox INSERT, the relay's LISTEN). bench/database_drivers.py
# measured the webhook's hot path (a single-row inbox INSERT, 32 tasks, pool of 10) on asyncpg and
# psycopg: asyncpg 2,585/s vs psycopg 2,210/s in one run, 3,042/s vs 3,179/s in the next -- no
# consistent difference on this machine, so speed gave no reason to keep a second driver.
# After the move, bench.webhook_intake over six interleaved runs each: 3,442 vs 3,591 callbacks/s
# (medians, asyncpg before), 0.22 ms of API CPU a callback either way. Sending the inbox batch as
# eight arrays cost psycopg about a third more CPU a callback; it goes as one JSON document instead.
def create_queue(settings: Settings, database_url: str) -> Queue:
    if queue_backend(settings) == "redis":
        assert settings.queue_url is not None
        return Queue.from_url(settings.queue_url, name=settings.queue_name)
    return PostgresQueue(
        url=libpq_url(settings.queue_url or database_url), name=settings.queue_name, min_size=1, max_size=8
    )


def job_options(settings: Settings) -> dict[str, Any]:
    """How every job is run: its timeout, and retries with exponential backoff and jitter (SAQ's
    defaults are 10 s and a single attempt)."""
    return {"timeout": settings.job_timeout_seconds, "retries": settings.job_max_attempts,
            "retry_delay": settings.job_backoff_base_seconds, "retry_backoff": settings.job_backoff_max_seconds}


def job_name(function: JobFunction) -> str:
    """The name SAQ's worker registers ``function`` under."""
    return function.__qualname__


async def enqueue(queue: Queue, settings: Settings, function: JobFunction, *, key: str,
                  **arguments: Any) -> Job | None:
    """Enqueue ``function(**arguments)`` under ``key`` (a second enqueue of a queued key is a no-op),
    run as :func:`job_options` says."""
    return await queue.enqueue(job_name(function), key=key, **arguments, **job_options(settings))
