"""The Sumsub fake: applicants, their lifecycle, the signed REST API and the signed webhooks.

    sumsub = SumsubFake(clock, seed, app_token=..., secret_key=..., webhook_secret=...,
                        webhook_url="http://service.test/webhooks/sumsub",
                        webhook_transport=httpx.ASGITransport(app=service_app))
    applicant = sumsub.create_applicant("customer-42", "basic-kyc-level")
    sumsub.submit_documents(applicant.id)
    sumsub.review(applicant.id, "RED", labels=["SCREENSHOTS"], reject_type="RETRY")
    await clock.run_due()                       # the webhooks go out
    sumsub.webhooks.journal                     # every attempt, as the sender saw it
    sumsub.network.arrivals()                   # every request the receiver got

The Python API and the HTTP API (``sumsub.app``) drive the same state; the HTTP side is a thin
adapter in ``sim.sumsub.app``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from sim.clock import VirtualClock
from sim.faults import HttpFaults
from sim.network import WebhookNetwork
from sim.seed import Seed
from sim.sumsub.app import ApiRequest, build_asgi_app
from sim.sumsub.applicants import (
    Applicant,
    ApplicantRegistry,
    LifecycleEvent,
    RejectType,
    ReviewAnswer,
    ReviewResult,
)
from sim.sumsub.events import DEFAULT_TEMPLATES_DIR, WebhookEvent, WebhookPayloads
from sim.sumsub.scripts import ScriptRun, Step, schedule
from sim.sumsub.signing import DEFAULT_DIGEST_ALG
from sim.sumsub.webhooks import ANSWER_DEADLINE_SECONDS, MAX_IN_FLIGHT, ClientFactory, WebhookDelivery, WebhookSender

__all__ = ["Permalink", "SumsubFake"]


@dataclass(frozen=True)
class Permalink:
    """A WebSDK link handed to a customer; opening it creates the applicant if needed."""

    token: str
    level_name: str
    external_user_id: str
    created_at: float
    expires_at: float
    email: str | None = None
    phone: str | None = None
    redirect: Mapping[str, Any] | None = None

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


class SumsubFake:
    """Sumsub as the service meets it; see the module docstring for a tour."""

    def __init__(self, clock: VirtualClock, seed: Seed, *, app_token: str, secret_key: str, webhook_secret: str,
                 webhook_url: str | None = None, webhook_alg: str = DEFAULT_DIGEST_ALG,
                 network: WebhookNetwork | None = None,
                 webhook_transport: httpx.AsyncBaseTransport | None = None,
                 webhook_client_factory: ClientFactory | None = None,
                 webhook_timeout: float = ANSWER_DEADLINE_SECONDS, webhook_max_in_flight: int = MAX_IN_FLIGHT,
                 client_id: str = "onboarding-sandbox",
                 sandbox_mode: bool = True, public_url: str | None = None, timestamp_tolerance: float = 60.0,
                 templates_dir: Path = DEFAULT_TEMPLATES_DIR) -> None:
        self.clock = clock
        self.seed = seed
        self.app_token = app_token
        self.secret_key = secret_key
        self.sandbox_mode = sandbox_mode
        # the base of permalink URLs; None: the URL the API was called on
        self.public_url = public_url
        self.timestamp_tolerance = timestamp_tolerance
        self.faults = HttpFaults("sumsub", clock, seed, error_body=lambda status, description: {
            "description": description, "code": status, "correlationId": self.new_error_correlation_id()})
        self._owns_network = network is None
        self.network = network if network is not None else WebhookNetwork(clock, seed)
        self.applicants = ApplicantRegistry(clock, seed, client_id=client_id)
        self.payloads = WebhookPayloads.from_directory(templates_dir, sandbox_mode=sandbox_mode)
        self.webhooks = WebhookSender(clock, self.network, secret=webhook_secret, url=webhook_url,
                                      digest_alg=webhook_alg, transport=webhook_transport,
                                      client_factory=webhook_client_factory, timeout=webhook_timeout,
                                      max_in_flight=webhook_max_in_flight)
        self.events: list[WebhookEvent] = []
        self.requests: list[ApiRequest] = []
        self.permalinks: dict[str, Permalink] = {}
        self.scripts: list[ScriptRun] = []
        self._last_event_ms = 0
        self.app = build_asgi_app(self)

    @classmethod
    def with_seeded_credentials(cls, clock: VirtualClock, seed: Seed, **options: Any) -> SumsubFake:
        """A fake whose App Token, secret key and webhook secret are drawn from the seed (as the sandbox's)."""
        return cls(clock, seed, app_token="sbx:" + seed.token("sumsub.credentials", 24),
                   secret_key=seed.token("sumsub.credentials", 32),
                   webhook_secret=seed.token("sumsub.credentials", 32), **options)

    # configuring
    @property
    def webhook_secret(self) -> str:
        return self.webhooks.secret

    def configure_webhook(self, url: str | None, *, secret: str | None = None, digest_alg: str | None = None) -> None:
        """Point webhooks somewhere else (the sandbox learns the service's URL only once it is up)."""
        self.webhooks.configure(url=url, secret=secret, digest_alg=digest_alg)

    # applicants
    def create_applicant(self, external_user_id: str, level_name: str, *,
                         applicant_type: Literal["individual", "company"] = "individual",
                         email: str | None = None, phone: str | None = None, lang: str | None = None,
                         fixed_info: Mapping[str, Any] | None = None,
                         metadata: Sequence[Mapping[str, Any]] = ()) -> Applicant:
        applicant, created = self.applicants.create(
            external_user_id, level_name, applicant_type=applicant_type, email=email, phone=phone, lang=lang,
            fixed_info=fixed_info, metadata=metadata)
        self._publish(created)
        return applicant

    def applicant(self, applicant_id: str) -> Applicant:
        return self.applicants.get(applicant_id)

    def applicant_by_external_user_id(self, external_user_id: str) -> Applicant:
        return self.applicants.by_external_user_id(external_user_id)

    # lifecycle
    def submit_documents(self, applicant_id: str) -> WebhookEvent:
        """The customer finished the WebSDK (first time, or again after a RETRY rejection)."""
        return self._publish(self.applicants.submit_documents(applicant_id))

    def review(self, applicant_id: str, answer: ReviewAnswer, *, labels: Iterable[str] = (),
               reject_type: RejectType | None = None, moderation_comment: str | None = None,
               client_comment: str | None = None) -> WebhookEvent:
        """Decide the review; a RED without ``reject_type`` is FINAL if any label is final, else RETRY."""
        if answer == "GREEN":
            if tuple(labels) or reject_type or moderation_comment or client_comment:
                raise ValueError("a GREEN review carries no labels, reject type or comments")
            result = ReviewResult.green()
        else:
            result = ReviewResult.red(labels, reject_type, moderation_comment=moderation_comment,
                                      client_comment=client_comment)
        return self._publish(self.applicants.review(applicant_id, result))

    def put_on_hold(self, applicant_id: str) -> WebhookEvent:
        return self._publish(self.applicants.put_on_hold(applicant_id))

    def change_personal_info(self, applicant_id: str, **changes: Any) -> WebhookEvent:
        return self._publish(self.applicants.change_personal_info(applicant_id, changes))

    def reset_applicant(self, applicant_id: str) -> WebhookEvent:
        return self._publish(self.applicants.reset(applicant_id))

    def emit(self, applicant_id: str, event_type: str, *, digest_alg: str | None = None,
             **overrides: Any) -> WebhookEvent:
        """Send a webhook of any type that has a template, without changing the applicant.

        For what the lifecycle does not produce by itself: a type the receiver does not handle,
        a replay of an old status, a payload with a field changed.
        """
        applicant = self.applicants.get(applicant_id)
        event = LifecycleEvent(event_type, applicant.id, self.clock.time(), applicant.review.status,
                               applicant.review.result)
        return self._publish(event, digest_alg=digest_alg, overrides=overrides)

    def script(self, applicant_id: str, steps: Iterable[Step], *, start_in: float = 0.0) -> ScriptRun:
        """Schedule a lifecycle on the clock (see ``sim.sumsub.scripts`` for steps and ready-made ones)."""
        self.applicants.get(applicant_id)
        run = schedule(self, applicant_id, steps, start_in=start_in)
        self.scripts.append(run)
        return run

    # permalinks
    def create_permalink(self, level_name: str, external_user_id: str, *, ttl_in_secs: float = 1800,
                         email: str | None = None, phone: str | None = None,
                         redirect: Mapping[str, Any] | None = None) -> Permalink:
        if not level_name or not external_user_id:
            raise ValueError("a permalink needs a level name and a user id")
        if ttl_in_secs <= 0:
            raise ValueError("ttlInSecs is positive")
        token = f"{'sbx' if self.sandbox_mode else 'prd'}_{self.seed.token('sumsub.permalinks', 16)}"
        now = self.clock.time()
        link = Permalink(token, level_name, external_user_id, now, now + ttl_in_secs, email, phone, redirect)
        self.permalinks[token] = link
        return link

    def open_permalink(self, token: str) -> Applicant:
        """What the WebSDK does when a customer opens the link: find or create their applicant."""
        link = self.permalinks[token]
        existing = self.applicants.find_by_external_user_id(link.external_user_id)
        if existing is not None:
            return existing
        return self.create_applicant(link.external_user_id, link.level_name, email=link.email, phone=link.phone)

    # webhooks
    def _publish(self, event: LifecycleEvent, *, digest_alg: str | None = None,
                 overrides: Mapping[str, Any] | None = None) -> WebhookEvent:
        applicant = self.applicants.get(event.applicant_id)
        # Sumsub's events never share a millisecond; receivers order by createdAtMs, so neither may ours
        created_at_ms = max(int(event.at * 1000), self._last_event_ms + 1)
        self._last_event_ms = created_at_ms
        webhook = self.payloads.build(event, applicant, correlation_id=f"req-{self.seed.uuid('sumsub.correlation')}",
                                      created_at_ms=created_at_ms, overrides=overrides)
        self.events.append(webhook)
        if self.webhooks.url is not None:
            self.webhooks.send(webhook, digest_alg=digest_alg)
        return webhook

    def deliveries_for(self, event: WebhookEvent) -> list[WebhookDelivery]:
        return [d for d in self.webhooks.deliveries if d.event is event]

    async def flush(self) -> int:
        """Run what is due now on the clock (webhook attempts among it); returns how many timers ran."""
        return await self.clock.run_due()

    # lifecycle of the fake itself
    def new_error_correlation_id(self) -> str:
        return self.seed.hex("sumsub.error_correlation", 32)

    def reset(self) -> None:
        """Forget applicants, links, events, deliveries, scripts, journals and faults; keep the configuration."""
        for run in self.scripts:
            run.cancel()
        self.scripts.clear()
        self.applicants.clear()
        self.permalinks.clear()
        self.events.clear()
        self.requests.clear()
        self.webhooks.reset()
        self.faults.reset()
        if self._owns_network:
            self.network.reset()
        self._last_event_ms = 0

    async def aclose(self) -> None:
        await self.webhooks.aclose()

    async def __aenter__(self) -> SumsubFake:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
