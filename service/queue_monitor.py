"""SAQ's own web UI (queues, jobs, retries, failed jobs) at ``/queues``, for operators.

Reading needs ``QUEUE_READ``; its retry and abort buttons (POST) need ``QUEUE_MANAGE``. Every
decision is audited like any operator route's.
"""

from __future__ import annotations

from typing import Any

from litestar import asgi
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.types import Receive, Scope, Send
from saq import Queue
from saq.web import starlette as saq_web

from service.auth.guards import Guard, requires
from service.auth.permissions import Permission

__all__ = ["QUEUE_MONITOR_PATH", "queue_monitor"]

QUEUE_MONITOR_PATH = "/queues"

_monitor = saq_web.saq_web(QUEUE_MONITOR_PATH, queues=[])


def _show_only(queue: Queue) -> None:
    """SAQ's UI reads its queues from a module-wide table; it shows the queue of the app that is
    answering (a process may hold several apps: the sandbox, tests)."""
    if saq_web.QUEUES.get(queue.name) is not queue or len(saq_web.QUEUES) != 1:
        saq_web.QUEUES.clear()
        saq_web.QUEUES[queue.name] = queue


def _queue_access() -> Guard:
    read, manage = requires(Permission.QUEUE_READ), requires(Permission.QUEUE_MANAGE)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        method = connection.scope.get("method", "GET")
        await (read if method in {"GET", "HEAD"} else manage)(connection, handler)

    guard.permission = Permission.QUEUE_READ  # type: ignore[attr-defined]  # read by the route audit test
    return guard


@asgi(QUEUE_MONITOR_PATH, is_mount=True, guards=[_queue_access()], include_in_schema=False,
      copy_scope=True)
async def queue_monitor(scope: Scope, receive: Receive, send: Send) -> None:
    # Litestar hands a mount "/api/queues/"; SAQ's routes have no trailing slash (and would redirect)
    scope["path"] = scope["path"].rstrip("/") or "/"
    _show_only(scope["app"].state.queue)
    await _monitor(scope, receive, send)  # type: ignore[arg-type]
