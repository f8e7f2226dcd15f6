"""What the Sumsub contract tests stand on: a virtual clock, a seed, the fake, a client that signs
requests the way the service's client does, and a real Litestar app that receives the webhooks.

Signing here is written out with plain ``hmac`` on purpose: the tests must not trust the fake's own
signing code to check the fake.
"""

import asyncio
import hashlib
import hmac
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, Response, post

from sim.clock import VirtualClock
from sim.seed import Seed
from sim.sumsub import SumsubFake

APP_TOKEN = "sbx:uY8aBcDeFgHiJkLmNoPqRsTu.aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"
SECRET_KEY = "Hej2ch71kG2kTd1iIUDZFNsO5C1lh5Gq"
WEBHOOK_SECRET = "whsec-3f1c9a7e5b2d4c6a8e0f1b3d5c7a9e2f"
WEBHOOK_PATH = "/webhooks/sumsub"
WEBHOOK_URL = f"http://service.test{WEBHOOK_PATH}"
SUMSUB_BASE = "http://sumsub.test"
LEVEL = "basic-kyc-level"


class SumsubAppTokenAuth(httpx.Auth):
    """Signs like a Sumsub client built on httpx: over the path and query exactly as they go out."""

    requires_request_body = True

    def __init__(self, app_token: str, secret_key: str, now: Callable[[], float]) -> None:
        self.app_token = app_token
        self.secret_key = secret_key
        self.now = now

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        ts = str(int(self.now()))
        signed = ts.encode() + request.method.upper().encode() + request.url.raw_path + request.content
        request.headers["X-App-Token"] = self.app_token
        request.headers["X-App-Access-Ts"] = ts
        request.headers["X-App-Access-Sig"] = hmac.new(self.secret_key.encode(), signed, hashlib.sha256).hexdigest()
        yield request


@dataclass
class ReceivedWebhook:
    at: float
    body: bytes
    headers: dict[str, str]

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return self.payload["type"]


@dataclass
class RecordingReceiver:
    """The receiving side: records every request it gets, answers what it is told to."""

    clock: VirtualClock
    received: list[ReceivedWebhook] = field(default_factory=list)
    scripted_statuses: deque[int] = field(default_factory=deque)
    default_status: int = 200
    hang_next: int = 0
    _arrival: asyncio.Event = field(default_factory=asyncio.Event)

    def answer_next(self, *statuses: int) -> None:
        self.scripted_statuses.extend(statuses)

    @property
    def types(self) -> list[str]:
        return [webhook.type for webhook in self.received]

    def times(self) -> list[float]:
        return [webhook.at for webhook in self.received]

    async def wait_for(self, count: int) -> None:
        """For a clock that follows the wall: until ``count`` webhooks have arrived (woken per arrival).

        Callers bound it with ``asyncio.timeout``.
        """
        while len(self.received) < count:
            self._arrival.clear()
            await self._arrival.wait()

    def build_app(self) -> Litestar:
        @post(WEBHOOK_PATH, status_code=200)
        async def receive(request: Request[Any, Any, Any]) -> Response[dict[str, str] | None]:
            body = await request.body()
            self.received.append(ReceivedWebhook(self.clock.time(), body, dict(request.headers)))
            self._arrival.set()
            if self.hang_next:
                self.hang_next -= 1
                await asyncio.Event().wait()  # never answers: only the sender's deadline ends this
            status = self.scripted_statuses.popleft() if self.scripted_statuses else self.default_status
            return Response(None if status == 204 else {"status": "recorded"}, status_code=status)

        return Litestar([receive], openapi_config=None, logging_config=None)


def new_fake(clock: VirtualClock, seed: Seed, receiver: RecordingReceiver, **options: Any) -> SumsubFake:
    options.setdefault("webhook_url", WEBHOOK_URL)
    if options["webhook_url"] == WEBHOOK_URL:
        # Litestar types its ASGI scopes more narrowly than httpx asks for; the app is a plain ASGI app
        options.setdefault("webhook_transport", httpx.ASGITransport(app=receiver.build_app()))  # type: ignore[arg-type]
    return SumsubFake(clock, seed, app_token=APP_TOKEN, secret_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET,
                      **options)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def seed() -> Seed:
    return Seed(20260105)


@pytest.fixture
def receiver(clock: VirtualClock) -> RecordingReceiver:
    return RecordingReceiver(clock)


@pytest.fixture
def new_receiver() -> Callable[[VirtualClock], RecordingReceiver]:
    return RecordingReceiver


@pytest.fixture
async def sumsub(clock: VirtualClock, seed: Seed, receiver: RecordingReceiver) -> AsyncIterator[SumsubFake]:
    fake = new_fake(clock, seed, receiver)
    yield fake
    await fake.aclose()


@pytest.fixture
async def make_fake(clock: VirtualClock, receiver: RecordingReceiver) -> AsyncIterator[Callable[..., SumsubFake]]:
    """For tests that need a fake configured differently, or a second world with its own seed."""
    made: list[SumsubFake] = []

    def make(seed: Seed, *, on_clock: VirtualClock | None = None, to: RecordingReceiver | None = None,
             **options: Any) -> SumsubFake:
        made.append(new_fake(on_clock or clock, seed, to or receiver, **options))
        return made[-1]

    yield make
    for fake in made:
        await fake.aclose()


@pytest.fixture
async def api(sumsub: SumsubFake, clock: VirtualClock) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sumsub.app), base_url=SUMSUB_BASE,
                                 auth=SumsubAppTokenAuth(APP_TOKEN, SECRET_KEY, clock.time)) as client:
        yield client


@pytest.fixture
def app_token_auth(clock: VirtualClock) -> Callable[..., httpx.Auth]:
    """Signing for any httpx client (in-process or on a socket); defaults to the right credentials."""

    def auth(*, app_token: str = APP_TOKEN, secret_key: str = SECRET_KEY,
             now: Callable[[], float] | None = None) -> httpx.Auth:
        return SumsubAppTokenAuth(app_token, secret_key, now or clock.time)

    return auth


@pytest.fixture
async def client_signing_with(
    sumsub: SumsubFake, clock: VirtualClock
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """A client that signs with the given token, secret and clock reading (defaults: the right ones)."""
    clients: list[httpx.AsyncClient] = []

    def client(*, app_token: str = APP_TOKEN, secret_key: str = SECRET_KEY,
               now: Callable[[], float] = clock.time) -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=sumsub.app), base_url=SUMSUB_BASE,
                                         auth=SumsubAppTokenAuth(app_token, secret_key, now)))
        return clients[-1]

    yield client
    for made in clients:
        await made.aclose()


@pytest.fixture
async def unsigned(sumsub: SumsubFake) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sumsub.app), base_url=SUMSUB_BASE) as client:
        yield client
