"""The ``/__admin/`` API that every fake answers beside its own protocol, as WireMock, moto and
Mailpit do: what it received and answered, a reset, and the faults its Python API offers.

    GET  /__admin/journal   {"fake": NAME, "entries": [{"at": ISO-8601, "kind": ..., ...}, ...]}, oldest first
    POST /__admin/reset     {"fake": NAME, "reset": true}
    GET  /__admin/faults    {"fake": NAME, "rules": [...], "injected": [...], ...}
    POST /__admin/faults    one rule, {"kind": ..., ...}, or {"kind": "clear"}; answers as GET does
    GET  /__admin/clock     {"fake": NAME, "now": ISO-8601, "time": seconds since the epoch}
    POST /__admin/clock/advance  {"seconds": N}: the fake's clock moves N seconds on, running every timer
                            that falls due on the way (a webhook retry, a token's expiry); answers
                            {"fake", "now", "time", "ran": timers run}. In ``sim up`` the fakes, the
                            service and its worker share one clock: advancing it on one fake moves all.

The admin routes sit in front of each fake's faults and journal: an outage never takes the admin
API down, and calling it is never journaled. A body that does not parse or fit is a 400
``{"error": ...}``. This module holds what the fakes share: the routing, the route handlers, and
the rules of ``sim.faults.HttpFaults`` (Keycloak and Sumsub); each fake adds its own kinds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router, get, post
from litestar.handlers import BaseRouteHandler
from litestar.types import ExceptionHandlersMap

from sim.clock import VirtualClock
from sim.faults import FaultRule, HttpFaults, InjectedFault

__all__ = [
    "CONTROL_PREFIX",
    "ControlError",
    "FakeControl",
    "HttpFaultIn",
    "Rule",
    "apply_http_fault",
    "control_app",
    "control_router",
    "http_faults_view",
    "iso",
    "with_control",
]

CONTROL_PREFIX = "/__admin"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Entry = dict[str, Any]


class ControlError(ValueError):
    """A request to the admin API that cannot be done as asked: answered 400."""


def iso(at: float | datetime | None) -> str | None:
    """A clock reading as ISO 8601 in UTC, to the millisecond."""
    if at is None:
        return None
    moment = at if isinstance(at, datetime) else datetime.fromtimestamp(at, tz=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def by_time(entries: Sequence[tuple[float, Entry]]) -> list[Entry]:
    """Entries oldest first; entries of one instant keep the order they were given in."""
    return [entry for _, entry in sorted(entries, key=lambda pair: pair[0])]


class FakeControl:
    """What one fake plugs into the admin API."""

    def __init__(self, name: str, *, journal: Callable[[], list[Entry]], reset: Callable[[], None],
                 faults: Callable[[], Mapping[str, Any]],
                 apply_fault: Callable[[bytes], Awaitable[None]], clock: VirtualClock | None = None) -> None:
        self.name = name
        self.clock = clock
        self.journal = journal
        self.reset = reset
        self.faults = faults
        self.apply_fault = apply_fault


# the rules of HttpFaults, as JSON

class Rule(msgspec.Struct, tag_field="kind", forbid_unknown_fields=True, kw_only=True):
    pass


class OutageIn(Rule, tag="outage"):
    seconds: float | None = None
    status: int = 503
    path: str | None = None
    start_in: float = 0.0


class FailNextIn(Rule, tag="fail_next"):
    count: int = 1
    status: int = 503
    path: str | None = None
    method: str | None = None
    body: Any = None


class RateLimitIn(Rule, tag="rate_limit"):
    count: int = 1
    retry_after: int = 1
    path: str | None = None


class SlowIn(Rule, tag="slow"):
    seconds: float
    count: int | None = 1
    path: str | None = None


class ErrorRateIn(Rule, tag="error_rate"):
    probability: float
    status: int = 500
    path: str | None = None


class ClearIn(Rule, tag="clear"):
    pass


class AdvanceIn(msgspec.Struct, forbid_unknown_fields=True):
    seconds: float


HttpFaultIn = OutageIn | FailNextIn | RateLimitIn | SlowIn | ErrorRateIn | ClearIn


def decode(raw: bytes, kind: Any) -> Any:
    """``raw`` as ``kind``, or a ``ControlError`` that says what does not fit."""
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ControlError(str(exc)) from None


def apply_http_fault(faults: HttpFaults, rule: Any) -> bool:
    """Program ``rule`` into ``faults``; False when it is not one of HttpFaults' kinds."""
    try:
        if isinstance(rule, OutageIn):
            faults.outage(rule.seconds, status=rule.status, path=rule.path, start_in=rule.start_in)
        elif isinstance(rule, FailNextIn):
            faults.fail_next(rule.count, status=rule.status, path=rule.path, method=rule.method, body=rule.body)
        elif isinstance(rule, RateLimitIn):
            faults.rate_limit(rule.count, retry_after=rule.retry_after, path=rule.path)
        elif isinstance(rule, SlowIn):
            faults.slow(rule.seconds, count=rule.count, path=rule.path)
        elif isinstance(rule, ErrorRateIn):
            faults.error_rate(rule.probability, status=rule.status, path=rule.path)
        elif isinstance(rule, ClearIn):
            faults.clear()
        else:
            return False
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    return True


def http_rule_out(rule: FaultRule) -> Entry:
    return {"kind": rule.made_by or rule.kind, "status": rule.status if rule.kind == "status" else None,
            "delay": rule.delay if rule.kind == "slow" else None, "remaining": rule.remaining,
            "probability": rule.probability, "starts_at": iso(rule.starts_at), "ends_at": iso(rule.ends_at),
            "path": rule.path.pattern if rule.path else None, "method": rule.method}


def injected_out(fault: InjectedFault) -> Entry:
    return {"at": iso(fault.at), "kind": "fault", "method": fault.method, "path": fault.path,
            "fault": fault.kind, "status": fault.status}


def http_faults_view(faults: HttpFaults) -> dict[str, Any]:
    return {"rules": [http_rule_out(rule) for rule in faults.rules],
            "injected": [injected_out(fault) for fault in faults.journal]}


# routes

def _error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    return Response({"error": str(exc)}, status_code=400)


def control_router(control: FakeControl, *, extra: Sequence[BaseRouteHandler] = (),
                   exception_handlers: ExceptionHandlersMap | None = None) -> Router:
    """The admin routes under ``/__admin``, for a fake's own Litestar app or for ``control_app``."""

    @get("/journal", sync_to_thread=False)
    def journal() -> dict[str, Any]:
        return {"fake": control.name, "entries": control.journal()}

    @post("/reset", status_code=200, sync_to_thread=False)
    def reset() -> dict[str, Any]:
        control.reset()
        return {"fake": control.name, "reset": True}

    @get("/faults", sync_to_thread=False)
    def faults() -> dict[str, Any]:
        return {"fake": control.name, **control.faults()}

    @post("/faults", status_code=200)
    async def add_fault(request: Request[Any, Any, Any]) -> dict[str, Any]:
        await control.apply_fault(await request.body())
        return {"fake": control.name, **control.faults()}

    def clock_view(clock: VirtualClock) -> dict[str, Any]:
        return {"fake": control.name, "now": iso(clock.time()), "time": clock.time()}

    @get("/clock", sync_to_thread=False)
    def read_clock() -> dict[str, Any]:
        return clock_view(_clock_of(control))

    @post("/clock/advance", status_code=200)
    async def advance_clock(request: Request[Any, Any, Any]) -> dict[str, Any]:
        clock = _clock_of(control)
        body: AdvanceIn = decode(await request.body(), AdvanceIn)
        if not body.seconds >= 0:  # also NaN
            raise ControlError("a clock does not go backwards: seconds must be 0 or more")
        ran = await clock.advance(body.seconds)
        return {**clock_view(clock), "ran": ran}

    clock_routes = [read_clock, advance_clock] if control.clock is not None else []
    return Router(CONTROL_PREFIX, route_handlers=[journal, reset, faults, add_fault, *clock_routes, *extra],
                  exception_handlers={ControlError: _error, **(exception_handlers or {})},
                  include_in_schema=False)


def _clock_of(control: FakeControl) -> VirtualClock:
    assert control.clock is not None  # the routes exist only with a clock
    return control.clock


def control_app(control: FakeControl, *, extra: Sequence[BaseRouteHandler] = (),
                exception_handlers: ExceptionHandlersMap | None = None) -> Litestar:
    return Litestar([control_router(control, extra=extra, exception_handlers=exception_handlers)],
                    openapi_config=None, logging_config=None)


def with_control(control: Litestar, app: ASGIApp) -> ASGIApp:
    """``app``, with requests under ``/__admin`` answered by ``control`` before any fault or journal."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        # "$KEYCLOAK_URL/__admin/..." with a URL that ends in "/" asks for "//__admin/...": the same place
        path = "/" + scope.get("path", "").lstrip("/") if scope["type"] == "http" else ""
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            # Litestar types scopes narrower than ASGI does
            await control({**scope, "path": path}, receive, send)  # type: ignore[arg-type]
        else:
            await app(scope, receive, send)

    return route
