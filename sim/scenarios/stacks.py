"""What a scenario run drives: the fakes beside a service, in this process or over HTTP.

``InProcessStack`` wraps a ``Sandbox`` and calls the fakes' Python API. ``RemoteStack`` reads the
env file ``python -m sim up`` wrote and drives the same fakes through their ``/__admin/`` HTTP API
(see ``sim.scenarios.admin_client``), so the same scenario file runs against a stack in another
process or on another machine. Both answer the same questions about effects (a customer's Keycloak
users, the emails to an address) and hand over what the fakes recorded, for the timeline.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx

from service.db.embedded import start_embedded_postgres
from service.db.engine import drop_database, ensure_database
from service.settings import read_dotenv
from sim.faults import FaultRule
from sim.network import Match, NetworkRule
from sim.sandbox import Sandbox
from sim.scenarios.admin_client import AdminClient
from sim.scenarios.logs import requiet
from sim.scenarios.timeline import TimelineEvent, events_from_fakes
from sim.smtp.faults import SmtpFaultRule

__all__ = ["ANY_PORT", "InProcessStack", "RemoteStack", "SandboxSession", "Stack", "fresh_sandbox", "operator_token"]

ANY_PORT = {"service": 0, "keycloak": 0, "sumsub": 0, "smtp": 0, "smtp_api": 0}
WELCOME_SUBJECT = "Welcome"


class Stack(Protocol):
    service_url: str

    def now(self) -> float: ...
    async def operator_client(self) -> httpx.AsyncClient: ...
    async def submit_documents(self, applicant_id: str) -> None: ...
    async def review(self, applicant_id: str, answer: str, reject_type: str | None, labels: Sequence[str]) -> None: ...
    async def on_hold(self, applicant_id: str) -> None: ...
    async def network_rule(self, kind: str, external_user_id: str | None, **params: Any) -> None: ...
    async def release(self, order: str | Sequence[int]) -> int: ...
    async def held(self, external_user_id: str | None) -> int: ...
    async def outage(self, system: str, seconds: float | None) -> None: ...
    async def end_outage(self, system: str) -> None: ...
    async def advance_clock(self, seconds: float) -> None: ...
    async def users_of(self, customer_id: str) -> list[dict[str, Any]]: ...
    async def emails_to(self, address: str) -> list[dict[str, Any]]: ...
    async def webhooks_settled(self) -> bool: ...
    async def webhook_backlog(self) -> int: ...
    async def fake_events(self, since: float) -> list[TimelineEvent]: ...
    async def journals(self) -> dict[str, Any]: ...


async def operator_token(keycloak_url: str, realm: str, client_id: str, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=keycloak_url, timeout=10) as http:
        response = await http.post(f"realms/{realm}/protocol/openid-connect/token",
                                   data={"grant_type": "password", "client_id": client_id,
                                         "username": username, "password": password})
    response.raise_for_status()
    return str(response.json()["access_token"])


class OperatorAuth(httpx.Auth):
    """The operator's bearer token, fetched again when the service refuses it: a scenario that
    advances the stack's clock outlives the token it began with."""

    def __init__(self, fetch: Callable[[], Awaitable[str]],
                 refresh: Callable[[], Awaitable[str]] | None = None) -> None:
        self.fetch = fetch
        self.refresh = refresh or fetch
        self.token: str | None = None

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.token is None:
            self.token = await self.fetch()
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self.token = await self.refresh()
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


class InProcessStack:
    """A sandbox in this process: the fakes are objects, their journals lists."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.service_url = sandbox.service_url
        self._outages: dict[str, list[FaultRule | SmtpFaultRule]] = {}
        self.rules: list[NetworkRule] = []
        self.job_events: list[TimelineEvent] = []
        self._hook: Any = None
        self._watch_jobs()

    def _watch_jobs(self) -> None:
        """Every job the sandbox's worker runs, on the timeline (SAQ calls this after each one)."""
        worker = getattr(self.sandbox, "_worker", None)  # the sandbox runs its worker; no public handle yet
        if worker is None:
            return
        clock = self.sandbox.clock

        async def after_job(ctx: dict[str, Any]) -> None:
            job = ctx.get("job")
            if job is None:
                return
            error = ctx.get("exception")
            status = getattr(job.status, "value", str(job.status))
            self.job_events.append(TimelineEvent(
                at=clock.time(), source="Worker", target="Worker", kind="job",
                label=f"{job.function} {status}" + (f" ({type(error).__name__})" if error else ""),
                refs=dict(job.kwargs or {}), ok=error is None))

        worker.after_process = [*(worker.after_process or []), after_job]
        self._hook = after_job

    def close(self) -> None:
        """Stop watching the worker's jobs (the sandbox may run other scenarios after this one)."""
        worker = getattr(self.sandbox, "_worker", None)
        if worker is not None and worker.after_process and self._hook in worker.after_process:
            worker.after_process.remove(self._hook)

    def now(self) -> float:
        return self.sandbox.clock.time()

    async def operator_client(self) -> httpx.AsyncClient:
        keycloak = self.sandbox.keycloak

        async def session_kept() -> str:
            # QA's operator is not under test: its session outlives a Keycloak outage the scenario set
            return keycloak.mint_token(keycloak.admin_realm, keycloak.operator_username,
                                       client_id=keycloak.operator_client_id)

        auth = OperatorAuth(self.sandbox.operator_token, session_kept)
        return httpx.AsyncClient(base_url=self.service_url, auth=auth)

    # Sumsub: each step's webhooks enter the network before the next step, so a rule for "the next
    # callbacks" applies to the callbacks of the steps after it, however fast the steps follow
    async def submit_documents(self, applicant_id: str) -> None:
        self.sandbox.sumsub.submit_documents(applicant_id)
        await self.sandbox.clock.run_due()

    async def review(self, applicant_id: str, answer: str, reject_type: str | None, labels: Sequence[str]) -> None:
        self.sandbox.sumsub.review(applicant_id, answer, labels=labels, reject_type=reject_type)  # type: ignore[arg-type]
        await self.sandbox.clock.run_due()

    async def on_hold(self, applicant_id: str) -> None:
        self.sandbox.sumsub.put_on_hold(applicant_id)
        await self.sandbox.clock.run_due()

    # the network
    async def network_rule(self, kind: str, external_user_id: str | None, **params: Any) -> None:
        network = self.sandbox.network
        match = None if external_user_id is None else Match(external_user_id=external_user_id)
        if kind == "duplicate":
            rule = network.duplicate(params["copies"], match=match, count=params["count"])
        elif kind == "hold":
            rule = network.hold(match=match)
        elif kind == "delay":
            rule = network.delay(params["seconds"], match=match, count=params["count"])
        elif kind == "drop":
            rule = network.drop(match=match, count=params["count"])
        elif kind == "lose_ack":
            rule = network.lose_ack(match=match, count=params["count"])
        else:
            raise ValueError(f"no network rule {kind!r}")
        self.rules.append(rule)

    async def release(self, order: str | Sequence[int]) -> int:
        return len(await self.sandbox.network.release(order))  # type: ignore[arg-type]

    async def held(self, external_user_id: str | None) -> int:
        return sum(1 for held in self.sandbox.network.held
                   if external_user_id is None or held.message.external_user_id == external_user_id)

    # faults and time
    async def outage(self, system: str, seconds: float | None) -> None:
        rule: FaultRule | SmtpFaultRule
        if system == "smtp":
            rule = self.sandbox.smtp.faults.outage(seconds)
        else:
            rule = self._http_faults(system).outage(seconds)
        self._outages.setdefault(system, []).append(rule)

    async def end_outage(self, system: str) -> None:
        for rule in self._outages.pop(system, []):
            if isinstance(rule, SmtpFaultRule):
                self.sandbox.smtp.faults.remove(rule)
            else:
                self._http_faults(system).rules.remove(rule)

    def _http_faults(self, system: str) -> Any:
        return self.sandbox.keycloak.faults if system == "keycloak" else self.sandbox.sumsub.faults

    async def advance_clock(self, seconds: float) -> None:
        await self.sandbox.clock.advance(seconds)

    # effects
    async def users_of(self, customer_id: str) -> list[dict[str, Any]]:
        realm = self.sandbox.keycloak.realm(self.sandbox.keycloak.customer_realm)
        return [{"id": user.id, "username": user.username, "enabled": user.enabled}
                for user in realm.users.values() if customer_id in user.attributes.get("customer_id", [])]

    async def emails_to(self, address: str) -> list[dict[str, Any]]:
        return [{"id": message.id, "subject": message.subject}
                for message in self.sandbox.smtp.search(to=address)]

    async def webhooks_settled(self) -> bool:
        now = self.now()
        return not any(d.state == "in_flight" or (d.next_attempt_at is not None and d.next_attempt_at <= now)
                       for d in self.sandbox.sumsub.webhooks.pending())

    async def webhook_backlog(self) -> int:
        """Webhooks being posted or due now: what a step on many customers lets drain before going on.
        One the network holds or delays is on its way too, but nothing is being posted for it."""
        now, network = self.now(), self.sandbox.network
        parked = {held.message.delivery_id for held in network.held}
        landed = {r.message_id for r in network.journal if r.action in ("arrived", "unanswered")}
        parked |= {r.delivery_id for r in network.journal if r.action == "delayed" and r.message_id not in landed}
        return sum(1 for d in self.sandbox.sumsub.webhooks.pending() if d.id not in parked and (
            d.state == "in_flight" or (d.next_attempt_at is not None and d.next_attempt_at <= now)))

    # what the fakes recorded
    async def fake_events(self, since: float) -> list[TimelineEvent]:
        box = self.sandbox
        return [*events_from_fakes(
            sumsub_requests=box.sumsub.requests, network=box.network.journal,
            keycloak_requests=box.keycloak.journal.entries, keycloak_faults=box.keycloak.faults.journal,
            sumsub_faults=box.sumsub.faults.journal, emails=box.smtp.messages(), smtp_faults=box.smtp.faults.journal,
            since=since), *[event for event in self.job_events if event.at >= since]]

    async def journals(self) -> dict[str, Any]:
        """What the fakes made and saw, as plain data (ids, paths, statuses; no times)."""
        box = self.sandbox
        realm = box.keycloak.realm(box.keycloak.customer_realm)
        return {
            "sumsub.applicants": [{"id": a.id, "externalUserId": a.external_user_id, "level": a.level_name,
                                   "reviewStatus": a.review.status,
                                   "answer": a.review.result.answer if a.review.result else None}
                                  for a in box.sumsub.applicants],
            "sumsub.webhooks": [{"delivery": a.delivery_id, "type": a.event_type, "applicant": a.applicant_id,
                                 "attempt": a.attempt, "status": a.status, "error": (a.error or "").split(":")[0]}
                                for a in box.sumsub.webhooks.journal],
            "sumsub.requests": [{"method": r.method, "path": r.path.split("?")[0], "status": r.status}
                                for r in box.sumsub.requests],
            "network": [{"action": r.action, "message": r.message_id, "copy": r.copy, "status": r.status,
                         "rule": r.rule} for r in box.network.journal],
            "keycloak.users": [{"id": u.id, "username": u.username, "enabled": u.enabled,
                                "customer_id": next(iter(u.attributes.get("customer_id") or []), None)}
                               for u in realm.users.values()],
            "keycloak.requests": [{"method": r.method, "path": r.path, "status": r.status}
                                  for r in box.keycloak.journal.entries],
            "smtp.messages": [{"id": m.id, "to": list(m.rcpt_tos), "subject": m.subject} for m in box.smtp.messages()],
        }


class RemoteStack:
    """A stack in other processes, known by its env file: the fakes through ``/__admin/``.

    Every step a scenario file can hold runs here, with one exception ``refusals`` names before a
    run starts: ending a Sumsub outage clears all of Sumsub's faults, its webhook network's rules
    among them, so it cannot share a scenario with network steps."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.service_url = env["SERVICE_URL"]
        self.admin = AdminClient(sumsub_url=env["SUMSUB_URL"], keycloak_url=env["KEYCLOAK_URL"],
                                 smtp_api_url=env["SMTP_API_URL"])
        self._advanced = 0.0  # the stack's clock runs ahead of the wall by what the scenario advanced it

    @classmethod
    def from_env_file(cls, path: str | Path) -> RemoteStack:
        return cls(read_dotenv(Path(path)))

    @staticmethod
    def refusals(steps: Sequence[Any]) -> list[str]:
        """What in ``steps`` cannot run against a remote stack, said for a person."""
        network = [s for s in steps if s.kind in ("duplicate", "hold", "release", "delay", "drop", "lose_ack")]
        if not network:
            return []
        return [f"step {number} ({step.describe()}): over the admin API it clears every Sumsub fault, the webhook "
                f"network's rules ({', '.join(sorted({s.kind for s in network}))}) too; give the outage a duration "
                f"instead" for number, step in enumerate(steps, start=1)
                if step.kind == "end_outage" and step.get("system") == "sumsub"]

    def now(self) -> float:
        return time.time() + self._advanced

    async def operator_client(self) -> httpx.AsyncClient:
        env = self.env

        async def token() -> str:
            return await operator_token(env["KEYCLOAK_URL"], env["KEYCLOAK_ADMIN_REALM"], env["OPERATOR_CLIENT_ID"],
                                        env["OPERATOR_USERNAME"], env["OPERATOR_PASSWORD"])

        return httpx.AsyncClient(base_url=self.service_url, auth=OperatorAuth(token), timeout=30)

    async def submit_documents(self, applicant_id: str) -> None:
        await self.admin.applicant_action(applicant_id, "submit")

    async def review(self, applicant_id: str, answer: str, reject_type: str | None, labels: Sequence[str]) -> None:
        body: dict[str, Any] = {"answer": answer}
        if answer == "RED":
            body |= {"rejectType": reject_type or "RETRY", "labels": list(labels)}
        await self.admin.applicant_action(applicant_id, "review", body)

    async def on_hold(self, applicant_id: str) -> None:
        await self.admin.applicant_action(applicant_id, "on-hold")

    async def network_rule(self, kind: str, external_user_id: str | None, **params: Any) -> None:
        match = None if external_user_id is None else {"external_user_id": external_user_id}
        await self.admin.add_fault("sumsub", {"kind": kind, "match": match, **params})

    async def release(self, order: str | Sequence[int]) -> int:
        before = len(await self.admin.held())
        after = await self.admin.add_fault("sumsub", {"kind": "release",
                                                      "order": order if isinstance(order, str) else list(order)})
        return before - len(after.get("network", {}).get("held", []))

    async def held(self, external_user_id: str | None) -> int:
        return sum(1 for held in await self.admin.held()
                   if external_user_id is None or held.get("external_user_id") == external_user_id)

    async def outage(self, system: str, seconds: float | None) -> None:
        await self.admin.add_fault(system, {"kind": "outage", "seconds": seconds})

    async def end_outage(self, system: str) -> None:
        await self.admin.clear_faults(system)

    async def advance_clock(self, seconds: float) -> None:
        await self.admin.advance_clock(seconds)
        self._advanced += seconds

    async def users_of(self, customer_id: str) -> list[dict[str, Any]]:
        env = self.env
        async with httpx.AsyncClient(base_url=env["KEYCLOAK_URL"], timeout=10) as http:
            token = (await http.post(
                f"realms/{env['KEYCLOAK_CUSTOMER_REALM']}/protocol/openid-connect/token",
                data={"grant_type": "client_credentials", "client_id": env["KEYCLOAK_CLIENT_ID"],
                      "client_secret": env["KEYCLOAK_CLIENT_SECRET"]})).json()["access_token"]
            found = await http.get(f"admin/realms/{env['KEYCLOAK_CUSTOMER_REALM']}/users",
                                   params={"q": f"customer_id:{customer_id}"},
                                   headers={"Authorization": f"Bearer {token}"})
        found.raise_for_status()
        return [{"id": u["id"], "username": u["username"], "enabled": u.get("enabled")} for u in found.json()]

    async def emails_to(self, address: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.env["SMTP_API_URL"], timeout=10) as http:
            found = await http.get("/api/v1/search", params={"query": f"to:{address}"})
        found.raise_for_status()
        return [{"id": m["ID"], "subject": m.get("Subject", "")} for m in found.json().get("messages", [])]

    async def webhooks_settled(self) -> bool:
        return True  # the sender's queue is not visible from outside; the service's callbacks tell instead

    async def webhook_backlog(self) -> int:
        return 0  # the fake paces its own sending

    async def fake_events(self, since: float) -> list[TimelineEvent]:
        return await self.admin.timeline_events(since)

    async def journals(self) -> dict[str, Any]:
        """What the fakes recorded, without the times (which follow the wall)."""
        return {f"{system}.journal": [{k: v for k, v in entry.items() if k not in _TIMES} for entry in entries]
                for system, entries in (await self.admin.journals()).items()}


_TIMES = ("at", "settled_at", "next_retry_at", "held_at", "created_at_ms", "payload", "body")


@asynccontextmanager
async def fresh_sandbox(seed: int, *, database_server: str | None = None,
                        configure: Callable[[Sandbox], None] | None = None) -> AsyncIterator[Sandbox]:
    """A sandbox on a database of its own, made for it and dropped after it, on ``database_server``
    (default ``DATABASE_URL``, else the embedded PostgreSQL); every port picked by the system."""
    server = database_server or os.environ.get("DATABASE_URL")
    if not server:
        server = (await _embedded()).url()
    name = f"scenario_{os.getpid()}_{secrets.token_hex(3)}"
    url = await ensure_database(server, name)
    try:
        sandbox = Sandbox(seed=seed, database_url=url, queue_url=os.environ.get("QUEUE_URL"), ports=dict(ANY_PORT),
                          queue_name=f"scenario-{uuid.uuid4().hex[:8]}")
        if configure is not None:
            configure(sandbox)
        async with sandbox:
            requiet()
            yield sandbox
    finally:
        with contextlib.suppress(Exception):  # a database that cannot be dropped must not hide the run's outcome
            await drop_database(url, name)


class SandboxSession:
    """``fresh_sandbox`` for a notebook, where one block cannot span cells:

        session = SandboxSession(seed=7)
        stack = await session.start()
        ...
        await session.stop()          # the sandbox stops and its database is dropped
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._exit = contextlib.AsyncExitStack()

    async def start(self) -> Sandbox:
        return await self._exit.enter_async_context(fresh_sandbox(self.seed))

    async def stop(self) -> None:
        await self._exit.aclose()


async def _embedded() -> Any:
    import asyncio

    return await asyncio.to_thread(start_embedded_postgres)
