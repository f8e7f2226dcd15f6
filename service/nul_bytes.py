"""PostgreSQL text cannot hold a NUL byte: a request that carries one in its path or query is
answered here, before routing, guards or the audit log could hand it to the database.

A NUL in the path names nothing that exists (404); in the query it is invalid input, named by
its parameter (422). Bodies are validated field by field where they are read.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, unquote

from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from service.problems import PROBLEM_JSON

__all__ = ["refuse_nul_bytes"]


def _offending_parameter(query_string: bytes) -> str | None:
    if b"\x00" not in query_string and b"%00" not in query_string.lower():
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return "query"


def refuse_nul_bytes(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        parameter = _offending_parameter(scope.get("query_string", b""))
        if "\x00" in path or "\x00" in unquote(scope.get("raw_path", b"").decode("latin-1")):
            status, code, detail, extra = 404, "not_found", "no resource has a NUL byte in its path", {}
        elif parameter is not None:
            status, code, detail = 422, "invalid_input", f"{parameter}: must not contain a NUL byte"
            extra = {"field": parameter}
        else:
            await app(scope, receive, send)
            return
        body = {"type": f"/problems/{code.replace('_', '-')}", "code": code,
                "title": "Not found" if status == 404 else "Invalid input", "status": status, "detail": detail,
                "instance": path.replace("\x00", "%00"), **extra}
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            body["request_id"] = request_id
        encoded = json.dumps(body).encode()
        headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(encoded)).encode())]
        start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
        await send(start)
        body_event: HTTPResponseBodyEvent = {"type": "http.response.body", "body": encoded, "more_body": False}
        await send(body_event)

    return middleware
