"""Structured logs: one JSON (or console) line per event, each with the request id in context."""

from __future__ import annotations

import logging
import sys
import uuid
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REQUEST_ID_HEADER", "configure_logging", "request_id_middleware"]

REQUEST_ID_HEADER = "x-request-id"


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # plain tracebacks: a rich one prints every frame's local variables, a temporary password among them
    renderer: Any = (structlog.processors.JSONRenderer() if json else
                     structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback))
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # libraries that log through the standard library end up in the same stream and format
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[
        structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore", "saq", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _valid_request_id(raw: bytes | None) -> str | None:
    if not raw or len(raw) > 64:
        return None
    value = raw.decode("latin-1")
    return value if all(c.isalnum() or c in "-_." for c in value) else None


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Take the caller's X-Request-ID (when sane) or make one; bind it to every log line; echo it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = _valid_request_id(headers.get(REQUEST_ID_HEADER.encode())) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await app(scope, receive, send_with_id)

    return middleware
