"""Faults that an HTTP fake answers with instead of its normal reply.

Each fake owns one ``HttpFaults``; its ASGI app is wrapped by ``faults.wrap(app)``. Rules are
matched in the order they were added; each decides on the shared virtual clock and on the seed's
``faults.<fake>`` stream, so a run with the same seed injects the same faults at the same requests.

    keycloak.faults.outage(seconds=30)                 # 503 for every request for 30 virtual s
    keycloak.faults.fail_next(2, status=503)           # the next two requests
    keycloak.faults.rate_limit(1, retry_after=2)       # one 429 with Retry-After: 2
    keycloak.faults.slow(6.0, count=1)                 # answer after 6 real seconds
    sumsub.faults.error_rate(0.2, status=500)          # a fifth of requests, drawn from the seed
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from sim.clock import VirtualClock
from sim.seed import Seed

__all__ = ["FaultRule", "HttpFaults", "InjectedFault"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class FaultRule:
    kind: str  # "status", "slow"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    remaining: int | None = None  # None: unlimited
    probability: float = 1.0
    starts_at: float | None = None
    ends_at: float | None = None
    delay: float = 0.0
    path: re.Pattern[str] | None = None
    method: str | None = None
    made_by: str = ""  # the programming call: outage, fail_next, rate_limit, slow, error_rate

    def applies(self, method: str, path: str, now: float) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.starts_at is not None and now < self.starts_at:
            return False
        if self.ends_at is not None and now >= self.ends_at:
            return False
        if self.method is not None and method != self.method:
            return False
        return self.path is None or self.path.search(path) is not None


@dataclass(frozen=True)
class InjectedFault:
    at: float
    method: str
    path: str
    kind: str
    status: int | None


ErrorBody = Callable[[int, str], Any]


def _oauth_error(status: int, description: str) -> dict[str, str]:
    return {"error": "service_unavailable" if status == 503 else f"http_{status}", "error_description": description}


class HttpFaults:
    """``error_body(status, description)`` shapes an injected error as the faked system shapes its own
    (Keycloak's OAuth-style errors by default; the Sumsub fake passes Sumsub's)."""

    def __init__(self, name: str, clock: VirtualClock, seed: Seed, *, error_body: ErrorBody = _oauth_error) -> None:
        self.name = name
        self.clock = clock
        self.seed = seed
        self.error_body = error_body
        self.rules: list[FaultRule] = []
        self.journal: list[InjectedFault] = []

    # programming
    def _add(self, rule: FaultRule, path: str | None) -> FaultRule:
        rule.path = re.compile(path) if path else None
        self.rules.append(rule)
        return rule

    def outage(self, seconds: float | None = None, *, status: int = 503, path: str | None = None,
               start_in: float = 0.0) -> FaultRule:
        """Every request answers ``status`` for ``seconds`` of the clock (forever when None)."""
        start = self.clock.time() + start_in
        end = None if seconds is None else start + seconds
        return self._add(FaultRule("status", status=status, starts_at=start, ends_at=end,
                                   body=f"{self.name} is down (injected)", made_by="outage"), path)

    def fail_next(self, count: int = 1, *, status: int = 503, path: str | None = None,
                  method: str | None = None, body: Any = None, headers: dict[str, str] | None = None) -> FaultRule:
        rule = FaultRule("status", status=status, remaining=count, method=method, headers=headers or {},
                         body=body if body is not None else f"injected {status}", made_by="fail_next")
        return self._add(rule, path)

    def rate_limit(self, count: int = 1, *, retry_after: int = 1, path: str | None = None) -> FaultRule:
        rule = FaultRule("status", status=429, remaining=count, headers={"Retry-After": str(retry_after)},
                         body="too many requests (injected)", made_by="rate_limit")
        return self._add(rule, path)

    def slow(self, seconds: float, *, count: int | None = 1, path: str | None = None) -> FaultRule:
        """Answer normally but only after ``seconds`` of real time (to go past a client's timeout)."""
        return self._add(FaultRule("slow", delay=seconds, remaining=count, made_by="slow"), path)

    def error_rate(self, probability: float, *, status: int = 500, path: str | None = None) -> FaultRule:
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability is between 0 and 1")
        return self._add(FaultRule("status", status=status, probability=probability, body=f"injected {status}",
                                   made_by="error_rate"), path)

    def clear(self) -> None:
        self.rules.clear()

    def reset(self) -> None:
        self.rules.clear()
        self.journal.clear()

    # deciding
    def decide(self, method: str, path: str) -> FaultRule | None:
        now = self.clock.time()
        rng = self.seed.stream(f"faults.{self.name}")
        for rule in self.rules:
            if not rule.applies(method, path, now):
                continue
            if rule.probability < 1.0 and rng.random() >= rule.probability:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            self.journal.append(InjectedFault(now, method, path, rule.kind,
                                              rule.status if rule.kind == "status" else None))
            return rule
        return None

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def faulty(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            rule = self.decide(scope["method"], scope["path"])
            if rule is None:
                await app(scope, receive, send)
            elif rule.kind == "slow":
                await asyncio.sleep(rule.delay)
                await app(scope, receive, send)
            else:
                # a text is a description, shaped by the fake; anything else is sent as given
                shaped = self.error_body(rule.status, rule.body) if isinstance(rule.body, str) else rule.body
                body = json.dumps(shaped).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                headers += [(k.lower().encode(), v.encode()) for k, v in rule.headers.items()]
                await send({"type": "http.response.start", "status": rule.status, "headers": headers})
                await send({"type": "http.response.body", "body": body})

        return faulty
