"""SAQ's own web UI (queues, jobs, retries, failed jobs) at ``/queues``, for operators.

Reading needs ``QUEUE_READ``; its retry and abort buttons (POST) need ``QUEUE_MANAGE``. An operator
comes with a bearer token, as to the API, or, from a browser, with the admin panel's session (which
signs them in first when they have none); a panel session's POSTs carry no CSRF token, so from the
browser the UI is read-only. Every decision is audited like any operator route's.
"""

from __future__ import annotations

from typing import Any

from litestar import asgi
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.types import Receive, Scope, Send
from saq import Queue
from saq.web import starlette as saq_web

from service.admin import sign_in_redirect
from service.admin.access import Panel, PanelForbidden, SignInRequired
from service.auth.guards import Guard, requires
from service.auth.permissions import Permission
from service.problems import Problem, problem_response
from service.settings import Settings

__all__ = ["QUEUE_MONITOR_PATH", "queue_monitor"]

QUEUE_MONITOR_PATH = "/queues"

_monitor = saq_web.saq_web(QUEUE_MONITOR_PATH, queues=[])


def _show_only(queue: Queue) -> None:
    """SAQ's UI reads its queues from a module-wide table; it shows the queue of the app that is
    answering (a process may hold several apps: the sandbox, tests)."""
    if saq_web.QUEUES.get(queue.name) is not queue or len(saq_web.QUEUES) != 1:
        saq_web.QUEUES.clear()
        saq_web.QUEUES[queue.name] = queue


def _queue_access(settings: Settings) -> Guard:
    read, manage = requires(Permission.QUEUE_READ), requires(Permission.QUEUE_MANAGE)
    panel = Panel(settings)
    panel_read, panel_manage = panel.requires(Permission.QUEUE_READ), panel.requires(Permission.QUEUE_MANAGE)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        reading = connection.scope.get("method", "GET") in {"GET", "HEAD"}
        if "authorization" in connection.headers or not settings.admin_session_secret:
            await (read if reading else manage)(connection, handler)
        else:
            try:
                await (panel_read if reading else panel_manage)(connection, handler)
            except SignInRequired:  # a mount sees only its own part of the path: come back to the UI
                raise SignInRequired(QUEUE_MONITOR_PATH + "/") from None

    guard.permission = Permission.QUEUE_READ  # type: ignore[attr-defined]  # read by the route audit test
    return guard


def _forbidden(request: Any, exc: PanelForbidden) -> Any:
    return problem_response(request, Problem(403, "forbidden", exc.detail))


def queue_monitor(settings: Settings) -> Any:
    @asgi(QUEUE_MONITOR_PATH, is_mount=True, guards=[_queue_access(settings)], include_in_schema=False,
          copy_scope=True, exception_handlers={SignInRequired: sign_in_redirect, PanelForbidden: _forbidden})
    async def monitor(scope: Scope, receive: Receive, send: Send) -> None:
        # Litestar hands a mount "/api/queues/"; SAQ's routes have no trailing slash (and would redirect)
        scope["path"] = scope["path"].rstrip("/") or "/"
        _show_only(scope["app"].state.queue)
        await _monitor(scope, receive, send)  # type: ignore[arg-type]

    return monitor
