"""Sumsub's REST API over the fake, and the WebSDK page a permalink opens.

The layers, outermost first:

- ``journaled``: records every call as it arrived and the status it got, injected faults included;
- ``HttpFaults.wrap``: outages, 429s and 5xx, programmed per test;
- ``signed_only``: App Token checks on ``/resources/...``, before any handler runs, on the path and
  body exactly as sent (ASGI ``raw_path`` and the raw bytes), because that is what Sumsub signs;
- ``external_id_kept_escaped``: lookups by external id are routed on the escaped path;
- the Litestar app: thin handlers over ``SumsubFake``'s Python API.

Errors carry Sumsub's body: ``{"description", "code", "correlationId"[, "errorCode", "errorName"]}``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias
from urllib.parse import unquote

from litestar import Litestar, MediaType, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.params import FromPath, QueryParameter

from sim.control import with_control
from sim.sumsub.applicants import ApplicantNotFound, DuplicateApplicant, TransitionNotAllowed
from sim.sumsub.auth import AuthRefusal, SignedRequest, check_signed_request
from sim.sumsub.control import sumsub_control

if TYPE_CHECKING:
    from sim.sumsub.fake import SumsubFake

__all__ = ["ApiRequest", "build_asgi_app", "build_litestar_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

AnyRequest: TypeAlias = Request[Any, Any, Any]

SIGNED_PREFIX = "/resources/"


@dataclass(frozen=True)
class ApiRequest:
    """One call to the REST API as it arrived, and the status it got (injected faults included)."""

    at: float
    method: str
    path: str  # as sent: escapes and query string kept
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    status: int | None


class BadRequest(Exception):
    pass


def error_body(sumsub: SumsubFake, status: int, description: str, refusal: AuthRefusal | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description, "code": status,
                            "correlationId": sumsub.new_error_correlation_id()}
    if refusal is not None:
        body["errorCode"] = refusal.error_code
        body["errorName"] = refusal.error_name
    return body


# handlers
def _sumsub(request: AnyRequest) -> SumsubFake:
    sumsub: SumsubFake = request.app.state.sumsub
    return sumsub


async def _json_object(request: AnyRequest) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("Request body is required")
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"Malformed JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise BadRequest("The request body must be a JSON object")
    return parsed


def _base_url(sumsub: SumsubFake, request: AnyRequest) -> str:
    return (sumsub.public_url or str(request.base_url)).rstrip("/")


@post("/resources/applicants", status_code=200)
async def create_applicant(
    request: AnyRequest,
    sumsub: NamedDependency[SumsubFake],
    level_name: Annotated[str | None, QueryParameter(name="levelName")] = None,
) -> dict[str, Any]:
    if not level_name:
        raise BadRequest("Required parameter 'levelName' is missing")
    body = await _json_object(request)
    external_user_id = body.get("externalUserId")
    if not isinstance(external_user_id, str) or not external_user_id:
        raise BadRequest("externalUserId is required")
    applicant_type = body.get("type", "individual")
    if applicant_type not in ("individual", "company"):
        raise BadRequest(f"Unknown applicant type: {applicant_type}")
    applicant = sumsub.create_applicant(
        external_user_id, level_name, applicant_type=applicant_type, email=body.get("email"),
        phone=body.get("phone"), lang=body.get("lang"), fixed_info=body.get("fixedInfo") or {},
        metadata=body.get("metadata") or ())
    return applicant.to_payload(sumsub.clock.time())


@get("/resources/applicants/{applicant_id:str}/one")
async def get_applicant(applicant_id: FromPath[str], sumsub: NamedDependency[SumsubFake]) -> dict[str, Any]:
    # "-;externalUserId=<id>" selects by our id, still escaped (see ``external_id_kept_escaped``)
    prefix = "-;externalUserId="
    if applicant_id.startswith(prefix):
        applicant = sumsub.applicant_by_external_user_id(unquote(applicant_id[len(prefix):]))
    else:
        applicant = sumsub.applicant(applicant_id)
    return applicant.to_payload(sumsub.clock.time())


@get("/resources/applicants/{applicant_id:str}/status")
async def get_review_status(applicant_id: FromPath[str], sumsub: NamedDependency[SumsubFake]) -> dict[str, Any]:
    return sumsub.applicant(applicant_id).review.to_payload(sumsub.clock.time())


@post("/resources/applicants/{applicant_id:str}/status/testCompleted", status_code=200)
async def simulate_review(
    applicant_id: FromPath[str], request: AnyRequest, sumsub: NamedDependency[SumsubFake]
) -> dict[str, Any]:
    if not sumsub.sandbox_mode:
        raise BadRequest("This method is only supported on sandbox env")
    body = await _json_object(request)
    answer = body.get("reviewAnswer")
    if answer not in ("GREEN", "RED"):
        raise BadRequest("reviewAnswer must be GREEN or RED")
    labels = body.get("rejectLabels") or []
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise BadRequest("rejectLabels must be a list of strings")
    if answer == "GREEN":
        # Sumsub ignores labels sent along with GREEN rather than failing the call
        sumsub.review(applicant_id, "GREEN")
    else:
        reject_type = body.get("reviewRejectType")
        if reject_type not in (None, "RETRY", "FINAL"):
            raise BadRequest("reviewRejectType must be RETRY or FINAL")
        comments = {key: body.get(key) for key in ("moderationComment", "clientComment")}
        if not all(value is None or isinstance(value, str) for value in comments.values()):
            raise BadRequest("moderationComment and clientComment are strings")
        sumsub.review(applicant_id, "RED", labels=labels, reject_type=reject_type,
                      moderation_comment=comments["moderationComment"], client_comment=comments["clientComment"])
    return {"ok": 1}


@patch("/resources/applicants/{applicant_id:str}/fixedInfo")
async def change_fixed_info(
    applicant_id: FromPath[str], request: AnyRequest, sumsub: NamedDependency[SumsubFake]
) -> dict[str, Any]:
    # answers the updated applicant (the shape of this answer is unverified)
    changes = await _json_object(request)
    if not changes:
        raise BadRequest("Nothing to change")
    sumsub.change_personal_info(applicant_id, **changes)
    return sumsub.applicant(applicant_id).to_payload(sumsub.clock.time())


@post("/resources/sdkIntegrations/levels/{level_name:str}/websdkLink", status_code=200)
async def websdk_link(
    level_name: FromPath[str],
    request: AnyRequest,
    sumsub: NamedDependency[SumsubFake],
    external_user_id: Annotated[str | None, QueryParameter(name="externalUserId")] = None,
    ttl_query: Annotated[int | None, QueryParameter(name="ttlInSecs")] = None,
) -> dict[str, Any]:
    if level_name == "-":
        # current form: everything in the body
        body = await _json_object(request)
        level = body.get("levelName")
        user_id = body.get("userId")
        ttl = body.get("ttlInSecs", 1800)
        identifiers = body.get("applicantIdentifiers") or {}
        redirect = body.get("redirect")
    else:
        # older form: level in the path, user and ttl in the query, empty body
        ttl = 1800 if ttl_query is None else ttl_query
        level, user_id, identifiers, redirect = level_name, external_user_id, {}, None
    if not isinstance(level, str) or not level:
        raise BadRequest("levelName is required")
    if not isinstance(user_id, str) or not user_id:
        raise BadRequest("userId is required")
    if not isinstance(ttl, int) or ttl <= 0:
        raise BadRequest("ttlInSecs must be a positive number of seconds")
    link = sumsub.create_permalink(level, user_id, ttl_in_secs=ttl, email=identifiers.get("email"),
                                   phone=identifiers.get("phone"), redirect=redirect)
    return {"url": f"{_base_url(sumsub, request)}/websdk/p/{link.token}"}


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{content}</body></html>"""


def _page(title: str, content: str, status: int = 200) -> Response[str]:
    return Response(_PAGE.format(title=html.escape(title), content=content), status_code=status,
                    media_type=MediaType.HTML)


@get("/websdk/p/{token:str}")
async def websdk_page(token: FromPath[str], sumsub: NamedDependency[SumsubFake]) -> Response[str]:
    link = sumsub.permalinks.get(token)
    if link is None:
        return _page("Link not found", "<p>This verification link does not exist.</p>", 404)
    if link.expired(sumsub.clock.time()):
        return _page("Link expired", "<p>This verification link has expired.</p>", 410)
    applicant = sumsub.open_permalink(token)
    content = (f"<p>Level <code>{html.escape(link.level_name)}</code>, applicant "
               f"<code>{html.escape(applicant.id)}</code>, status <code>{applicant.review_status}</code>.</p>"
               f'<form method="post" action="/websdk/p/{html.escape(token)}/submit">'
               "<button type=\"submit\">Submit documents</button></form>")
    return _page("Identity verification (sandbox)", content)


@post("/websdk/p/{token:str}/submit", status_code=200)
async def websdk_submit(token: FromPath[str], sumsub: NamedDependency[SumsubFake]) -> Response[str]:
    """The customer uploads their documents: the applicant goes to pending."""
    link = sumsub.permalinks.get(token)
    if link is None:
        return _page("Link not found", "<p>This verification link does not exist.</p>", 404)
    if link.expired(sumsub.clock.time()):
        return _page("Link expired", "<p>This verification link has expired.</p>", 410)
    applicant = sumsub.open_permalink(token)
    sumsub.submit_documents(applicant.id)
    return _page("Documents submitted", "<p>Thank you. Your documents are being reviewed.</p>")


# errors
def _error_response(request: AnyRequest, status: int, description: str) -> Response[dict[str, Any]]:
    return Response(error_body(_sumsub(request), status, description), status_code=status)


def _not_found(request: AnyRequest, exc: Exception) -> Response[dict[str, Any]]:
    # Sumsub's wording for this one is unverified
    return _error_response(request, 404, "Applicant not found")


def _duplicate(request: AnyRequest, exc: Exception) -> Response[dict[str, Any]]:
    return _error_response(request, 409, str(exc))


def _conflict(request: AnyRequest, exc: Exception) -> Response[dict[str, Any]]:
    return _error_response(request, 409, str(exc))


def _bad_request(request: AnyRequest, exc: Exception) -> Response[dict[str, Any]]:
    return _error_response(request, 400, str(exc))


def _http_error(request: AnyRequest, exc: Exception) -> Response[dict[str, Any]]:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Internal error"
    return _error_response(request, status, detail)


def build_litestar_app(sumsub: SumsubFake) -> Litestar:
    async def provide_sumsub() -> SumsubFake:
        return sumsub

    return Litestar(
        route_handlers=[create_applicant, get_applicant, get_review_status, simulate_review, change_fixed_info,
                        websdk_link, websdk_page, websdk_submit],
        dependencies={"sumsub": Provide(provide_sumsub)},
        exception_handlers={
            ApplicantNotFound: _not_found,
            DuplicateApplicant: _duplicate,
            TransitionNotAllowed: _conflict,
            BadRequest: _bad_request,
            HTTPException: _http_error,
        },
        state=State({"sumsub": sumsub}),
        # handlers name the fake's class in their signatures; it is imported here only for type checkers
        signature_namespace={"SumsubFake": type(sumsub)},
        openapi_config=None,
        logging_config=None,  # a fake leaves the process's logging as it found it
    )


# ASGI layers
def _path_as_sent(scope: Scope) -> bytes:
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string") or b""
    return raw_path + b"?" + query if query else raw_path


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already-read body once, then defers to the real one."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json;charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


_BY_EXTERNAL_ID = re.compile(rb"^/resources/applicants/-;externalUserId=[^/?]*/one$")


def external_id_kept_escaped(app: ASGIApp) -> ASGIApp:
    """Route ``-;externalUserId=<id>`` on the path as sent, so that an id holding ``/`` (sent as
    ``%2F``) stays one path segment instead of splitting the route."""

    async def route_on_raw_path(scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path") if scope["type"] == "http" else None
        if raw_path and _BY_EXTERNAL_ID.match(raw_path):
            scope = {**scope, "path": raw_path.decode("latin-1")}
        await app(scope, receive, send)

    return route_on_raw_path


def signed_only(sumsub: SumsubFake, app: ASGIApp) -> ASGIApp:
    async def check_signature(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(SIGNED_PREFIX):
            await app(scope, receive, send)
            return
        body = await _read_body(receive)
        request = SignedRequest(scope["method"], _path_as_sent(scope), _headers(scope), body)
        refusal = check_signed_request(request, app_token=sumsub.app_token, secret_key=sumsub.secret_key,
                                       now=sumsub.clock.time(), tolerance=sumsub.timestamp_tolerance)
        if refusal is not None:
            await _send_json(send, 401, error_body(sumsub, 401, refusal.description, refusal))
            return
        await app(scope, _replaying(body, receive), send)

    return check_signature


def journaled(sumsub: SumsubFake, app: ASGIApp) -> ASGIApp:
    async def record(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body = await _read_body(receive)
        status: int | None = None

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, _replaying(body, receive), send_and_note)
        finally:
            sumsub.requests.append(ApiRequest(sumsub.clock.time(), scope["method"],
                                              _path_as_sent(scope).decode("latin-1"), _headers(scope), body, status))

    return record


def build_asgi_app(sumsub: SumsubFake) -> ASGIApp:
    api: ASGIApp = build_litestar_app(sumsub)  # type: ignore[assignment]  # Litestar types scopes narrower
    # the admin API in front: unsigned, never faulted, never journaled
    return with_control(sumsub_control(sumsub),
                        journaled(sumsub, sumsub.faults.wrap(signed_only(sumsub, external_id_kept_escaped(api)))))
