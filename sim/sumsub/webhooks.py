"""Sumsub's webhook sender: signed POSTs, a 5 s answer deadline, and the retry ladder.

Sumsub signs the raw body (``X-Payload-Digest``, ``X-Payload-Digest-Alg``), treats anything but a
2xx within 5 seconds as a failure, and resends a failed webhook 4 times: 5 minutes, 1 hour, 5 hours
and 18 hours after the previous failure. Then it gives up.

Every attempt runs as a timer on the virtual clock (the first one at once), so nothing is sent until
the clock runs what is due: ``await clock.run_due()`` in a test, by itself on a clock that follows
the wall. Attempts that fall due together go out side by side, at most ``max_in_flight`` at a time
(Sumsub dispatches from a pool of workers, not one queue), each on its own retry ladder; which one
lands first is up to the receiver and the network. Attempts go through a ``WebhookNetwork``, which
may duplicate, delay, hold, drop or lose the answer to any of them; the journal records what the
sender saw.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import httpx

from sim.clock import Timer, VirtualClock
from sim.network import WebhookMessage, WebhookNetwork, WireResult
from sim.sumsub.events import WebhookEvent
from sim.sumsub.signing import (
    DEFAULT_DIGEST_ALG,
    DIGEST_ALGORITHMS,
    PAYLOAD_DIGEST_ALG_HEADER,
    PAYLOAD_DIGEST_HEADER,
    payload_digest,
)

__all__ = [
    "ANSWER_DEADLINE_SECONDS",
    "MAX_IN_FLIGHT",
    "RETRY_DELAYS",
    "DeliveryAttempt",
    "WebhookDelivery",
    "WebhookSender",
]

RETRY_DELAYS: tuple[float, ...] = (5 * 60, 60 * 60, 5 * 60 * 60, 18 * 60 * 60)
ANSWER_DEADLINE_SECONDS = 5.0
# Sumsub does not publish its dispatch concurrency; a handful of parallel requests per receiver is
# what its deliveries look like from the receiving side.
MAX_IN_FLIGHT = 8

ClientFactory = Callable[[], httpx.AsyncClient]
DeliveryState = Literal["scheduled", "in_flight", "delivered", "abandoned"]


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST as the sender saw it; ``next_retry_at`` is None when it will not try again."""

    delivery_id: str
    event_type: str
    applicant_id: str
    attempt: int
    sent_at: float
    settled_at: float
    payload: bytes = field(repr=False)
    headers: MappingProxyType[str, str] = field(repr=False)
    status: int | None
    error: str | None
    latency: float  # real seconds the exchange took; network delays are virtual and show in settled_at
    next_retry_at: float | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class WebhookDelivery:
    """One event on its way to one webhook URL, with the same bytes and signature on every attempt."""

    id: str
    event: WebhookEvent
    url: str
    digest_alg: str
    headers: MappingProxyType[str, str] = field(repr=False)
    state: DeliveryState = "scheduled"
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    next_attempt_at: float | None = None
    _timer: Timer | None = field(default=None, repr=False)

    @property
    def body(self) -> bytes:
        return self.event.body

    @property
    def event_type(self) -> str:
        return self.event.type


class WebhookSender:
    def __init__(self, clock: VirtualClock, network: WebhookNetwork, *, secret: str, url: str | None = None,
                 digest_alg: str = DEFAULT_DIGEST_ALG, transport: httpx.AsyncBaseTransport | None = None,
                 client_factory: ClientFactory | None = None, timeout: float = ANSWER_DEADLINE_SECONDS,
                 retry_delays: Sequence[float] = RETRY_DELAYS, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        if transport is not None and client_factory is not None:
            raise ValueError("give a transport or a client factory, not both")
        if max_in_flight < 1:
            raise ValueError("max_in_flight is at least 1")
        self._check_alg(digest_alg)
        self.clock = clock
        self.network = network
        self.secret = secret
        self.url = url
        self.digest_alg = digest_alg
        self.timeout = timeout
        self.retry_delays = tuple(retry_delays)
        self.deliveries: list[WebhookDelivery] = []
        self.journal: list[DeliveryAttempt] = []
        self._transport = transport
        self._client_factory = client_factory
        self._clients: list[httpx.AsyncClient] = []  # every client made; the idle ones wait for a request
        self._idle_clients: list[httpx.AsyncClient] = []
        self._tls: ssl.SSLContext | None = None
        self._numbers = itertools.count(1)
        self.max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        self._scheduled: dict[str, WebhookDelivery] = {}  # insertion order is due order for equal times

    @staticmethod
    def _check_alg(alg: str) -> None:
        if alg not in DIGEST_ALGORITHMS:
            raise ValueError(f"X-Payload-Digest-Alg is one of {', '.join(DIGEST_ALGORITHMS)}, not {alg!r}")

    def configure(self, *, url: str | None, secret: str | None = None, digest_alg: str | None = None) -> None:
        """Change where and how later deliveries go; deliveries already made keep their URL and signature."""
        if digest_alg is not None:
            self._check_alg(digest_alg)
            self.digest_alg = digest_alg
        if secret is not None:
            self.secret = secret
        self.url = url

    # sending
    def send(self, event: WebhookEvent, *, digest_alg: str | None = None, url: str | None = None) -> WebhookDelivery:
        """Queue ``event`` for delivery; the first attempt is due at once on the clock."""
        target = url or self.url
        if target is None:
            raise RuntimeError("no webhook URL: set one before sending")
        alg = digest_alg or self.digest_alg
        self._check_alg(alg)
        headers = MappingProxyType({
            "Content-Type": "application/json",
            PAYLOAD_DIGEST_HEADER: payload_digest(self.secret, event.body, alg),
            PAYLOAD_DIGEST_ALG_HEADER: alg,
        })
        delivery = WebhookDelivery(f"wh-{next(self._numbers):06d}", event, target, alg, headers)
        self.deliveries.append(delivery)
        self._schedule(delivery, 0.0)
        return delivery

    def _schedule(self, delivery: WebhookDelivery, delay: float) -> None:
        delivery.state = "scheduled"
        delivery.next_attempt_at = self.clock.time() + delay
        self._scheduled[delivery.id] = delivery

        async def attempt() -> None:
            await self._attempt_due()

        delivery._timer = self.clock.call_later(delay, attempt, label=f"sumsub webhook {delivery.id}")

    async def _attempt_due(self) -> None:
        """Send every attempt that is due by now, side by side within the bound. The first due timer
        takes the whole batch (the others find nothing left), so a clock that runs timers one after
        the other still sends concurrently."""
        now = self.clock.time()
        due = [d for d in self._scheduled.values() if d.next_attempt_at is not None and d.next_attempt_at <= now]
        due.sort(key=lambda d: d.next_attempt_at or 0.0)  # stable: equal times keep the order they were sent
        for delivery in due:
            del self._scheduled[delivery.id]
            if delivery._timer is not None:
                delivery._timer.cancel()
            delivery.state = "in_flight"
            delivery.next_attempt_at = None
        if due:
            await asyncio.gather(*(self._attempt_in_slot(delivery) for delivery in due))

    async def _attempt_in_slot(self, delivery: WebhookDelivery) -> None:
        async with self._slots:
            await self._attempt(delivery)

    async def _attempt(self, delivery: WebhookDelivery) -> None:
        number = len(delivery.attempts) + 1
        sent_at = self.clock.time()
        message = WebhookMessage(
            id=f"{delivery.id}/{number}", url=delivery.url, headers=delivery.headers, body=delivery.body,
            delivery_id=delivery.id, attempt=number, event_type=delivery.event.type,
            applicant_id=delivery.event.applicant_id, external_user_id=delivery.event.external_user_id,
        )

        async def settle(result: WireResult) -> None:
            self._settle(delivery, number, sent_at, result)

        await self.network.transmit(message, self._post, settle)

    def _settle(self, delivery: WebhookDelivery, number: int, sent_at: float, result: WireResult) -> None:
        if all(d is not delivery for d in self.deliveries):
            return  # sent before a reset and still on its way through the network: no longer ours to record
        next_retry_at = None
        if result.ok:
            delivery.state = "delivered"
        elif number <= len(self.retry_delays):
            delay = self.retry_delays[number - 1]
            next_retry_at = self.clock.time() + delay
            self._schedule(delivery, delay)
        else:
            delivery.state = "abandoned"
        attempt = DeliveryAttempt(delivery.id, delivery.event.type, delivery.event.applicant_id, number, sent_at,
                                  self.clock.time(), delivery.body, delivery.headers, result.status, result.error,
                                  result.latency, next_retry_at)
        delivery.attempts.append(attempt)
        self.journal.append(attempt)

    async def _post(self, message: WebhookMessage) -> WireResult:
        """The real HTTP exchange: one POST, answered within the deadline or counted as failed."""
        client = self._take_client()
        try:
            return await self._post_with(client, message)
        finally:
            self._idle_clients.append(client)

    async def _post_with(self, client: httpx.AsyncClient, message: WebhookMessage) -> WireResult:
        started = time.perf_counter()
        try:
            # asyncio's deadline also bounds an in-process ASGI receiver, where httpx's timeouts never fire
            async with asyncio.timeout(self.timeout):
                response = await client.post(message.url, content=message.body, headers=dict(message.headers),
                                             timeout=self.timeout)
        except (TimeoutError, httpx.TimeoutException):
            return WireResult(None, f"timeout: no answer within {self.timeout:g}s", time.perf_counter() - started)
        except httpx.HTTPError as exc:
            return WireResult(None, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
        except Exception as exc:
            # an in-process receiver that crashes is, to the sender, a failed delivery to retry later
            return WireResult(None, f"receiver raised {type(exc).__name__}: {exc}", time.perf_counter() - started)
        return WireResult(response.status_code, None, time.perf_counter() - started)

    def _take_client(self) -> httpx.AsyncClient:
        """A client of one keep-alive connection per request in flight: httpx's pool looks at every
        connection it holds on every request, which costs more CPU than the POST itself once a
        dozen are open. An injected transport or factory is shared, as given."""
        if self._idle_clients:
            return self._idle_clients.pop()
        if self._client_factory is not None:
            client = self._client_factory()
        else:
            if self._tls is None:
                self._tls = ssl.create_default_context()  # loading the CA bundle takes ~70 ms: once
            one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            client = httpx.AsyncClient(transport=self._transport, timeout=self.timeout, follow_redirects=False,
                                       limits=one, verify=self._tls)
        self._clients.append(client)
        return client

    # inspecting
    def pending(self) -> list[WebhookDelivery]:
        return [d for d in self.deliveries if d.state in ("scheduled", "in_flight")]

    def attempts_for(self, delivery_id: str) -> list[DeliveryAttempt]:
        return [a for a in self.journal if a.delivery_id == delivery_id]

    # lifecycle
    def cancel_pending(self) -> None:
        for delivery in self.pending():
            if delivery._timer is not None:
                delivery._timer.cancel()
            delivery.state = "abandoned"
            delivery.next_attempt_at = None
        self._scheduled.clear()

    def reset(self) -> None:
        self.cancel_pending()
        self.deliveries.clear()
        self.journal.clear()

    async def aclose(self) -> None:
        clients, self._clients, self._idle_clients = self._clients, [], []
        for client in clients:
            await client.aclose()
