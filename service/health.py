"""Liveness and readiness. Ready means the database and the queue both answer, now."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from sqlalchemy import text

from service.dependencies import JobQueue, Sessions
from service.openapi import problems
from service.problems import PROBLEM_JSON

__all__ = ["live", "ready"]

CHECK_TIMEOUT = 3.0


@get("/health/live", tags=["health"], summary="The process is up", opt={"public": True}, operation_id="getLiveness")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except Exception as exc:
        return f"failed: {type(exc).__name__}"
    return "ok"


async def _database(sessions: Sessions) -> None:
    async with sessions() as session:
        await session.execute(text("SELECT 1"))


@get("/health/ready", tags=["health"], summary="The database and the queue answer", opt={"public": True},
     operation_id="getReadiness",
     responses=problems(503, instance="/health/ready", codes={503: ("not_ready",)},
                        descriptions={503: "The database or the queue does not answer; `checks` says which."}))
async def ready(sessions: Sessions, queue: JobQueue) -> Response[dict[str, Any]]:
    database, queue_state = await asyncio.gather(_check(_database(sessions)), _check(queue.count("queued")))
    checks = {"database": database, "queue": queue_state}
    if all(v == "ok" for v in checks.values()):
        return Response({"status": "ready", "checks": checks})
    return Response(
        {"type": "/problems/not-ready", "code": "not_ready", "title": "Service unavailable", "status": 503,
         "detail": "a dependency does not answer", "instance": "/health/ready", "checks": checks},
        status_code=503, media_type=PROBLEM_JSON,
    )
