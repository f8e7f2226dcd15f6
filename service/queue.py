"""The SAQ queue: on the service's PostgreSQL by default, on Redis when QUEUE_URL says so.

Jobs are enqueued by a reference to their function (:func:`enqueue`), never by a name spelled
as a string, so an enqueue can be followed to the code it runs; SAQ registers a worker's
functions under the same name.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg.sql import SQL, Composed
from psycopg_pool import AsyncConnectionPool
from saq import Job, Queue, Status
from saq.queue.postgres import ENQUEUE, PostgresQueue
from saq.utils import now, now_seconds

from service.db.engine import PING_AFTER_IDLE_SECONDS, libpq_url
from service.settings import Settings

__all__ = ["JobFunction", "JobRequest", "ServiceQueue", "create_queue", "enqueue", "enqueue_all", "job_name",
           "job_options", "queue_backend"]

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
    pool = AsyncConnectionPool(libpq_url(settings.queue_url or database_url), open=False, check=_check_when_idle)
    return ServiceQueue(pool=pool, name=settings.queue_name, min_size=1, max_size=8, manage_pool_lifecycle=True)


class ServiceQueue(PostgresQueue):
    """SAQ's Postgres queue, writing a job's new status in one statement.

    SAQ wraps every status write in a transaction of its own, and inside the dequeue's transaction
    in a savepoint: a lone UPDATE needs neither, and the BEGIN and COMMIT (or SAVEPOINT and RELEASE)
    were two of the three round trips of the two or three status writes of every job. The
    statement is SAQ's own (``PostgresQueue._update`` of the pinned version, whose signature a test
    compares); a write without a status, which reads the current one first, is left to SAQ.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._status_writes: dict[bool, Composed] = {}  # with an expiry, without: composed once
        self._inserts: dict[int, Composed] = {}  # the enqueue of n jobs, by n: composed once

    async def enqueue_jobs(self, jobs: Sequence[Job]) -> int:
        """SAQ's ``enqueue`` of each job, all in one statement that also NOTIFYs the workers (SAQ sends
        an INSERT and a NOTIFY a job). A key already queued is left as it is, as SAQ leaves it; how
        many were enqueued. The rows are SAQ's own (``PostgresQueue._enqueue`` of the pinned version,
        whose statement a test reads)."""
        unique = list({job.key: job for job in jobs}.values())  # ON CONFLICT may touch a row only once
        if not unique:
            return 0
        queued = now()
        values: list[Any] = []
        for job in unique:
            job.queue, job.queued, job.status = self, queued, Status.QUEUED
            await self._before_enqueue(job)
            values += [job.key, self.serialize(job), self.name, job.status, job.priority, job.group_key,
                       job.scheduled or int(now_seconds())]
        statement = self._inserts.get(len(unique))
        if statement is None:
            statement = self._inserts[len(unique)] = SQL(
                "WITH enqueued AS ("
                " INSERT INTO {jobs_table} (key, job, queue, status, priority, group_key, scheduled) VALUES {rows}"
                " ON CONFLICT (key) DO UPDATE SET job = EXCLUDED.job, queue = EXCLUDED.queue,"
                " status = EXCLUDED.status, priority = EXCLUDED.priority, group_key = EXCLUDED.group_key,"
                " scheduled = EXCLUDED.scheduled, expire_at = null"
                " WHERE {jobs_table}.status IN ('aborted', 'complete', 'failed')"
                " AND EXCLUDED.scheduled > {jobs_table}.scheduled"
                " RETURNING key)"
                # one notification, whatever the count: PostgreSQL folds equal ones of a transaction
                " SELECT pg_notify(%s, %s) FROM enqueued").format(
                jobs_table=self.jobs_table,
                rows=SQL(", ").join([SQL("(%s, %s, %s, %s, %s, %s, %s)")] * len(unique)))
        async with self.pool.connection() as connection:
            cursor = await connection.execute(statement, [*values, self._channel, ENQUEUE])
            return len(await cursor.fetchall())

    async def _update(self, job: Job, status: Status | None = None, **kwargs: Any) -> None:
        if status is None:
            return await super()._update(job, status, **kwargs)
        expire_at = kwargs.pop("expire_at", -1)
        connection: AsyncConnection[Any] | None = kwargs.pop("connection", None)
        job.status = status
        statement = self._status_writes.get(expire_at != -1)
        if statement is None:
            statement = self._status_writes[expire_at != -1] = SQL(
                "UPDATE {jobs_table} SET job = %(job)s, status = %(status)s, scheduled = %(scheduled)s"
                "{expire_at} WHERE key = %(key)s").format(
                jobs_table=self.jobs_table, expire_at=SQL(", expire_at = %(expire_at)s" if expire_at != -1 else ""))
        values = {"job": self.serialize(job), "status": job.status, "key": job.key, "scheduled": job.scheduled,
                  "expire_at": expire_at}
        if connection is not None:
            await connection.execute(statement, values)
            return None
        async with self.pool.connection() as pooled:
            await pooled.execute(statement, values)
        return None


# SAQ's own pool checks every connection with a round trip before lending it, three or four times
# per job; this one checks only those not lent for a while, as the service's engine pings idle ones (a
# restarted server is found before a job's statement, a connection lent a moment ago is lent as it
# is). The moment is noted when lending, not on return: a ``reset`` hook would send every returned
# connection through the pool's few maintenance workers, and a burst would wait on them.
_lent_at: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = weakref.WeakKeyDictionary()


async def _check_when_idle(connection: AsyncConnection[Any]) -> None:
    now = time.monotonic()
    lent_at = _lent_at.get(connection)
    if lent_at is None or now - lent_at >= PING_AFTER_IDLE_SECONDS:
        await AsyncConnectionPool.check_connection(connection)
    _lent_at[connection] = now


def job_options(settings: Settings) -> dict[str, Any]:
    """How every job is run: its timeout, and retries with exponential backoff and jitter (SAQ's
    defaults are 10 s and a single attempt)."""
    return {"timeout": settings.job_timeout_seconds, "retries": settings.job_max_attempts,
            "retry_delay": settings.job_backoff_base_seconds, "retry_backoff": settings.job_backoff_max_seconds}


def job_name(function: JobFunction) -> str:
    """The name SAQ's worker registers ``function`` under."""
    return function.__qualname__


@dataclass(frozen=True)
class JobRequest:
    """A job to enqueue: ``function(**arguments)`` under ``key``."""

    function: JobFunction
    key: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


async def enqueue_all(queue: Queue, settings: Settings, requests: Sequence[JobRequest]) -> None:
    """:func:`enqueue` each; on the Postgres queue all in one round trip (a relay's batch, a sweep)."""
    if isinstance(queue, ServiceQueue):
        await queue.enqueue_jobs([Job(function=job_name(r.function), key=r.key, kwargs=dict(r.arguments),
                                      **job_options(settings)) for r in requests])
        return
    for request in requests:
        await enqueue(queue, settings, request.function, key=request.key, **request.arguments)


async def enqueue(queue: Queue, settings: Settings, function: JobFunction, *, key: str,
                  **arguments: Any) -> Job | None:
    """Enqueue ``function(**arguments)`` under ``key`` (a second enqueue of a queued key is a no-op),
    run as :func:`job_options` says."""
    return await queue.enqueue(job_name(function), key=key, **arguments, **job_options(settings))
