"""Structured logs: one JSON (or console) line per event, each with the request id in context.

What an operator on call reads: one ``request`` line per HTTP request (method, path, status,
duration, request id, and the subject when the caller authenticated), one ``job.retry`` line per
failed attempt that will be retried, and one ``job.failed`` line, with the traceback, when a job
gives up. Libraries' per-command chatter stays below INFO.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REQUEST_ID_HEADER", "configure_logging", "log_job_outcome", "on_request_line", "request_id_middleware"]

REQUEST_ID_HEADER = "x-request-id"


_NEEDS_QUOTES = re.compile(r'[ "=\n]').search


def _value(value: Any) -> str:
    text = value if type(value) is str else str(value)
    return repr(text) if not text or _NEEDS_QUOTES(text) else text


def render_line(_: Any, __: str, event: dict[str, Any]) -> str:
    """``2026-11-25T10:00:00.123456Z [info] request method=GET path=/api/customers status=200 …``: the
    event's fields in the order they were given, a value quoted only when it holds a space, a quote
    or an equals sign; a traceback on the lines after. (structlog's ConsoleRenderer pads and sorts
    every line, at five times the CPU: a line per request is on every request's path.)"""
    moment, level, name = event.pop("timestamp", ""), event.pop("level", ""), event.pop("event", "")
    exception = event.pop("exception", None)
    line = f"{moment} [{level}] {name}"
    if event:
        line += " " + " ".join([f"{key}={_value(value)}" for key, value in event.items()])
    return f"{line}\n{exception}" if exception else line


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # plain tracebacks: a rich one prints every frame's local variables, a temporary password among them
    renderer: Any = structlog.processors.JSONRenderer() if json else render_line
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),  # a line is one write (print makes two)
        cache_logger_on_first_use=False,
    )
    # libraries that log through the standard library end up in the same stream and format
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[
        structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log would repeat the ``request`` line; SMTP client and server log each command;
    # SAQ logs every attempt with the job's whole dump (``log_job_outcome`` says it in one line instead)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "saq", "alembic.runtime.migration",
                  "mail.log", "aiosmtplib", "aiosmtpd", "keycloak"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    saq = logging.getLogger("saq")
    if not any(isinstance(f, _SaqJobErrors) for f in saq.filters):
        saq.addFilter(_SaqJobErrors())


class _SaqJobErrors(logging.Filter):
    """Drops SAQ's "Error processing job" (a traceback and the job's dump on every attempt):
    ``log_job_outcome``, the worker's after-process hook, reports the same failure once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Error processing job"))


def log_job_outcome(context: Mapping[str, Any]) -> None:
    """After each job attempt: nothing when it succeeded, one line when it will be retried, and the
    traceback once, when it has failed for good."""
    job = context.get("job")
    error = context.get("exception")
    if job is None or error is None:
        return
    fields: dict[str, Any] = {
        "job": job.function, "job_key": job.key, "attempt": job.attempts, "max_attempts": job.retries,
        "error_type": type(error).__name__, "error": str(error) or repr(error),
    }
    status = getattr(job.status, "value", job.status)
    if status == "failed":
        log.error("job.failed", **fields, exc_info=error)
        return
    # the Postgres queue records the next run on the job; the Redis queue keeps it in its schedule only
    if job.scheduled and job.scheduled > time.time() - 1:
        fields["next_run"] = datetime.fromtimestamp(job.scheduled, UTC).isoformat(timespec="seconds")
    log.warning("job.retry", **fields)


log = structlog.get_logger("service")


def _valid_request_id(raw: bytes | None) -> str | None:
    if not raw or len(raw) > 64:
        return None
    value = raw.decode("latin-1")
    return value if all(c.isalnum() or c in "-_." for c in value) else None


def _subject(state: dict[str, Any]) -> str | None:
    """Who the guards let in (an operator's or a customer's verified token), if anyone."""
    for key in ("operator", "customer"):
        token = state.get(key)
        if token is not None:
            return getattr(token, "username", None) or getattr(token, "subject", None)
    return None


_REQUEST_LINE_FIELDS = "request_line_fields"


def on_request_line(scope: Scope, **fields: Any) -> None:
    """What a handler adds to its request's one ``request`` line (the callback a webhook stored, say),
    rather than writing a second line of its own."""
    scope.setdefault("state", {}).setdefault(_REQUEST_LINE_FIELDS, {}).update(fields)


def request_id_middleware(app: ASGIApp, *, headers_for: dict[str, dict[str, str]] | None = None) -> ASGIApp:
    """Take the caller's X-Request-ID (when sane) or make one; bind it to every log line; echo it;
    and write the request's one access-log line when it is answered. ``headers_for`` adds response
    headers to the paths under each prefix (the docs pages' Content-Security-Policy)."""
    extra_headers = [(prefix, [(k.encode(), v.encode()) for k, v in headers.items()])
                     for prefix, headers in (headers_for or {}).items()]

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        # 32 hex digits, as uuid4().hex gave, at a fraction of its cost
        request_id = _valid_request_id(headers.get(REQUEST_ID_HEADER.encode())) or os.urandom(16).hex()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        path = scope["path"]
        added = [(REQUEST_ID_HEADER.encode(), request_id.encode())]
        for prefix, prefix_headers in extra_headers:
            if path.startswith(prefix):
                added.extend(prefix_headers)
        status = 500  # unless a response starts
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await app(scope, receive, send_with_id)
            finally:
                fields: dict[str, Any] = {"method": scope.get("method"), "path": path, "status": status,
                                          "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                                          "request_id": request_id}
                subject = _subject(state)
                if subject:
                    fields["subject"] = subject
                fields.update(state.get(_REQUEST_LINE_FIELDS) or {})
                (log.error if status >= 500 else log.info)("request", **fields)

    return middleware
