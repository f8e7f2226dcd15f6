"""RFC 9457 problem details for every error the API returns.

Each problem has a stable machine-readable ``code`` (and ``type`` = ``/problems/<code>``), the
HTTP ``status``, a human ``title`` and ``detail``, and, where one field is at fault, ``field``.
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

__all__ = ["PROBLEM_JSON", "TITLES", "Problem", "exception_handlers", "problem_response"]

PROBLEM_JSON = "application/problem+json"

log = structlog.get_logger(__name__)

TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
    409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Invalid input",
    429: "Too many requests", 500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable",
}
_CODES = {
    400: "malformed_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_input",
    429: "rate_limited", 500: "internal_error", 502: "upstream_error", 503: "unavailable",
}


class Problem(Exception):
    """An error meant for the API's caller."""

    def __init__(self, status: int, code: str, detail: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or TITLES.get(status, "Error")
        self.headers = headers or {}
        self.extra = extra


def problem_response(request: Request[Any, Any, Any], problem: Problem) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"/problems/{problem.code.replace('_', '-')}",
        "code": problem.code,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
    }
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
    body.update(problem.extra)
    return Response(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


_MSGSPEC_LOCATION = re.compile(r"^(?P<message>.*?) - at `\$\.?(?P<path>[^`]*)`$")
_MSGSPEC_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")


def _validation_problem(exc: ValidationException) -> Problem:
    """Litestar's 400 for a body or parameter that does not fit: 422 naming each field at fault."""
    errors: list[dict[str, str]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", ""))
        field = str(item.get("key", "") or "")
        match = _MSGSPEC_LOCATION.match(message)
        if match:
            message = match["message"]
            field = match["path"] or field
        missing = _MSGSPEC_MISSING.search(message)
        if missing:
            field = f"{match['path']}.{missing['name']}" if match and match["path"] else missing["name"]
        errors.append({"field": field or "body", "message": message})
    if not errors:
        # not a field error: the body could not be read at all (not JSON, wrong content type)
        return Problem(400, "malformed_request", exc.detail or "the request could not be read")
    first = errors[0]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return Problem(422, "invalid_input", detail, field=first["field"], errors=errors)


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if isinstance(exc, ValidationException):
        return problem_response(request, _validation_problem(exc))
    status = exc.status_code
    headers = dict(exc.headers or {})
    return problem_response(request, Problem(status, _CODES.get(status, "error"), exc.detail, headers=headers))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("request.failed", path=request.url.path, error_type=type(exc).__name__)
    return problem_response(request, Problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error",
                                             "the server failed to handle the request"))


def _problem(request: Request[Any, Any, Any], exc: Problem) -> Response[dict[str, Any]]:
    return problem_response(request, exc)


exception_handlers: dict[Any, Any] = {
    Problem: _problem,
    HTTPException: _http_exception,
    Exception: _unexpected,
}

