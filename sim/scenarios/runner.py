"""Running a scenario: its steps in order against a stack, then its expectations, then what happened.

    run = await run_scenario(load_scenario("happy_path"))      # a fresh sandbox of its own
    run = await run_scenario(scenario, sandbox=stack)            # a sandbox already running
    run = await run_scenario(scenario, env_file="stack.env")     # a stack started by `python -m sim up`
    run.passed, run.failures, run.summary(), run.timeline, run.durations()

Steps run one after the other, and a step on a group runs for each member in turn, so with the same
seed the fakes hand out the same ids in the same order (see ``ScenarioRun.fingerprint``). A step
the service refuses unexpectedly ends the run as failed. Expectations are eventual: each is awaited
until it holds or the scenario's timeout passes, then all are checked once more once the fakes and
the service's inbox are quiet, so an effect made twice is caught.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from faker import Faker

from sim.sandbox import Sandbox
from sim.scenarios.model import STEP_KINDS, Expectation, Scenario, ScenarioError, Step
from sim.scenarios.stacks import InProcessStack, RemoteStack, Stack, fresh_sandbox
from sim.scenarios.timeline import (
    Picture,
    Timeline,
    TimelineEvent,
    lifecycle_durations,
    plot_latencies,
    plot_lifecycles,
)
from sim.seed import Seed
from sim.waiting import eventually

__all__ = ["Customer", "ScenarioRun", "StepFailed", "run_scenario"]

T = TypeVar("T")
_STATES = ("kyc_status", "verification_status", "kyc_level", "activity_status")
EFFECTS = ("users", "enabled_users", "emails", "accounts", "balance_cents", "account_status", "account_set")
PROGRESS_FROM = 30
WEBHOOKS_IN_FLIGHT = 8
_SUMSUB_STEPS = ("submit_documents", "resubmit", "review", "on_hold")
_OPERATOR_STEPS = ("start_kyc", "deactivate", "deposit", "withdraw")  # actions in a run before it shows a progress bar
_LANE_OF_STEP = {"create": "Service", "start_kyc": "Service", "deactivate": "Service", "deposit": "Service",
                 "withdraw": "Service", "submit_documents": "Sumsub", "resubmit": "Sumsub", "review": "Sumsub",
                 "on_hold": "Sumsub", "duplicate": "Network", "hold": "Network", "release": "Network",
                 "delay": "Network", "drop": "Network", "lose_ack": "Network", "advance_clock": "Clock",
                 "wait": "Service"}


class StepFailed(Exception):
    """A step the stack did not do as the scenario says (an unexpected answer, a wait that timed out)."""


@dataclass
class Customer:
    name: str
    customer_type: str
    email: str
    id: str = ""
    public_id: str = ""
    applicant_id: str = ""


@dataclass
class ScenarioRun:
    scenario: Scenario
    seed: int
    customers: dict[str, Customer] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)  # each customer as the service last showed it
    effects: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeline: Timeline = field(default_factory=lambda: Timeline([]))
    journals: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> Any:
        """One row per customer: where it ended and what was made for it."""
        import pandas as pd

        rows = []
        for name, customer in self.customers.items():
            shown = self.final.get(name, {})
            rows.append({"customer": name, "public_id": customer.public_id, "type": customer.customer_type,
                         "kyc_status": shown.get("kyc_status"), "activity_status": shown.get("activity_status"),
                         **self.effects.get(name, {})})
        return pd.DataFrame(rows).set_index("customer") if rows else pd.DataFrame()

    def expectations(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.checks)

    def provisioning(self, customer: str) -> Any:
        import pandas as pd

        steps = (self.final.get(customer) or {}).get("provisioning") or {}
        return pd.DataFrame([{"step": step, **state} for step, state in steps.items()]).set_index("step")

    def durations(self) -> Any:
        return lifecycle_durations(self.final)

    def plot(self) -> Picture:
        return plot_lifecycles(self.durations(), title=f"{self.scenario.name}: each customer's lifecycle")

    def plot_latencies(self) -> Picture:
        return plot_latencies(self.durations())

    def fingerprint(self) -> list[str]:
        """What the fakes made and saw, as sorted lines, with the service's own ids (random, as they
        should be) replaced by the scenario's names: equal for two runs of one file and seed."""
        text = json.dumps(self.journals, sort_keys=True, default=str)
        for name, customer in self.customers.items():
            if customer.id:
                text = text.replace(customer.id, f"<{name}>")
        # Sumsub's applicant ids begin with the second they were made in (as Sumsub's own do), and the
        # sandbox's clock follows the wall: that part is the clock's, the rest the seed's
        text = re.sub(r"\b[0-9a-f]{8}([0-9a-f]{16})\b", r"<time>\1", text)
        data = json.loads(text)
        lines: list[str] = []
        for section, entries in sorted(data.items()):
            if section == "keycloak.requests":
                entries = {json.dumps(e, sort_keys=True) for e in entries}  # retries follow the wall clock
            else:
                entries = [json.dumps(e, sort_keys=True) for e in entries]
            lines.extend(f"{section} {entry}" for entry in sorted(entries))
        return lines

    def report(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"{self.scenario.name} (seed {self.seed}): {verdict} in {self.seconds:.1f} s"]
        lines += [f"  - {failure}" for failure in self.failures]
        return "\n".join(lines)


async def run_scenario(scenario: Scenario, *, seed: int | None = None, sandbox: Sandbox | None = None,
                       env_file: str | Path | None = None, progress: bool | None = None,
                       timeline_file: str | Path | None = None) -> ScenarioRun:
    """Run ``scenario`` (with ``seed`` instead of its own, when given) on a fresh in-process sandbox,
    on ``sandbox``, or on the stack ``env_file`` describes (``ScenarioError`` before any step when the
    scenario holds a step that cannot run there)."""
    scenario = scenario.with_seed(seed)
    if env_file is not None:
        remote = RemoteStack.from_env_file(env_file)
        refused = remote.refusals(scenario.steps)
        if refused:  # before the first step, not half-way
            raise ScenarioError(f"{scenario.name}: cannot run against the stack in {env_file}: " + "; ".join(refused))
        run = await ScenarioRunner(remote, scenario, shared=True, progress=progress).run()
    elif sandbox is not None:
        stack = InProcessStack(sandbox)
        try:
            run = await ScenarioRunner(stack, scenario, shared=True, progress=progress).run()
        finally:
            stack.close()
    else:
        async with fresh_sandbox(scenario.seed) as own:
            stack = InProcessStack(own)
            run = await ScenarioRunner(stack, scenario, shared=False, progress=progress).run()
    if timeline_file is not None:
        run.timeline.save_html(timeline_file)
    return run


class ScenarioRunner:
    def __init__(self, stack: Stack, scenario: Scenario, *, shared: bool, progress: bool | None) -> None:
        self.stack = stack
        self.scenario = scenario
        self.run_record = ScenarioRun(scenario, scenario.seed)
        self.customers = self.run_record.customers
        self.groups: dict[str, list[str]] = {}
        self.events: list[TimelineEvent] = []
        faker = Faker()
        faker.seed_instance(Seed(scenario.seed).stream(f"scenario.people:{scenario.name}").getrandbits(64))
        self.faker = faker
        # on a stack shared with other runs, addresses get a tag of their own (they are unique there)
        self.tag = "" if not shared else f".{Seed(int(time.time_ns())).hex('tag', 6)}"
        self.progress = progress
        self.api: httpx.AsyncClient | None = None

    # running
    async def run(self) -> ScenarioRun:
        record = self.run_record
        began, start = time.monotonic(), self.stack.now()
        bar = self._progress_bar()
        try:
            self.api = await self.stack.operator_client()
            for number, step in enumerate(self.scenario.steps, start=1):
                try:
                    await self._step(step, bar)
                except StepFailed as exc:
                    record.failures.append(f"step {number} ({step.describe()}): {exc}")
                    break
                except (httpx.HTTPError, ScenarioError, KeyError, ValueError, RuntimeError) as exc:
                    record.failures.append(f"step {number} ({step.describe()}): {type(exc).__name__}: {exc}")
                    break
            if not record.failures:
                await self._check_expectations(bar)
            await self._gather(start)
        finally:
            if bar is not None:
                bar.close()
            if self.api is not None:
                await self.api.aclose()
        record.seconds = time.monotonic() - began
        return record

    # step by step, for a caller that decides the steps as it goes (the property search)
    async def do(self, step: Step) -> None:
        """One step; a step the stack refuses raises ``StepFailed``."""
        await self._step(step, None)

    async def verify(self) -> list[str]:
        """The scenario's expectations, as a run ends: what did not hold."""
        self.run_record.failures.clear()
        await self._check_expectations(None)
        return list(self.run_record.failures)

    async def effects_of(self, name: str) -> dict[str, Any]:
        return await self._effects(self.customers[name])

    def _progress_bar(self) -> Any:
        actions = sum(self._size(step) for step in self.scenario.steps)
        if self.progress is False or (self.progress is None and actions < PROGRESS_FROM):
            return None
        from tqdm.std import tqdm

        return tqdm(total=actions, desc=self.scenario.name, unit="action", file=sys.stderr, mininterval=0.5,
                    dynamic_ncols=False, ncols=100)

    def _size(self, step: Step) -> int:
        if step.kind == "create":
            return int(step.get("count") or 1)
        who = step.get("customer") if "customer" in STEP_KINDS[step.kind].arguments else None
        if who is None:
            return 1
        return len(self.groups.get(who, [])) or _group_size(self.scenario, who)

    def _members(self, who: str | None) -> list[str]:
        if who is None:
            return []
        if who in self.groups:
            return self.groups[who]
        if who in self.customers:
            return [who]
        raise StepFailed(f"no customer or group named {who!r} (create it first)")

    def _note(self, source: str, target: str, label: str, *, customer: str = "", ok: bool = True,
              kind: str = "step", at: float | None = None) -> None:
        """A step on the timeline; ``at`` when it began, so it shows before what it caused."""
        moment = self.stack.now() if at is None else at
        self.events.append(TimelineEvent(moment, source, target, kind, label, customer=customer, ok=ok))

    async def _step(self, step: Step, bar: Any) -> None:
        kind = step.kind
        if kind == "create":
            await self._create(step, bar)
            return
        if kind in ("release", "outage", "end_outage", "advance_clock") or (
                kind in ("duplicate", "hold", "delay", "drop", "lose_ack") and step.get("customer") is None):
            await self._global(step)
            if bar is not None:
                bar.update(1)
            return
        members = self._members(step.get("customer"))
        if len(members) > 1 and self.scenario.parallel > 1 and kind in _OPERATOR_STEPS:
            await self._in_parallel([functools.partial(self._for_customer, step, self.customers[name])
                                     for name in members], bar)
            return
        for name in members:
            await self._for_customer(step, self.customers[name])
            if bar is not None:
                bar.update(1)
            if len(members) > 1 and kind in _SUMSUB_STEPS:
                await self._drain_webhooks()

    async def _in_parallel(self, calls: list[Callable[[], Awaitable[Any]]], bar: Any) -> None:
        """At most ``parallel`` calls at once; the first failure ends the step."""
        gate = asyncio.Semaphore(self.scenario.parallel)

        async def one(call: Callable[[], Awaitable[Any]]) -> None:
            async with gate:
                await call()
            if bar is not None:
                bar.update(1)

        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(one(call))

    async def _drain_webhooks(self) -> None:
        """Let the webhooks of a step on many customers go out a few at a time, as Sumsub sends them
        (a bounded number at once), rather than all at the same instant."""
        deadline = time.monotonic() + self.scenario.timeout
        while await self.stack.webhook_backlog() > WEBHOOKS_IN_FLIGHT and time.monotonic() < deadline:  # noqa: ASYNC110 - the backlog is the fake's, polled: it signals nothing
            await asyncio.sleep(0.01)

    async def _create(self, step: Step, bar: Any) -> None:
        name, count = str(step.get("customer")), step.get("count")
        names = [f"{name}-{i}" for i in range(1, count + 1)] if count else [name]
        if count:
            self.groups[name] = names
        people = []
        for member in names:  # drawn in order, whatever order the calls then take
            if member in self.customers:
                raise StepFailed(f"{member} exists already")
            slug = re.sub(r"[^a-z0-9]+", "-", member.lower()).strip("-")
            person = re.sub(r"[^a-z.]+", "", f"{self.faker.first_name()}.{self.faker.last_name()}".lower())
            people.append(Customer(member, str(step.get("type")), f"{person}.{slug}{self.tag}@example.com"))

        async def create(customer: Customer) -> None:
            at = self.stack.now()
            created = await self._call("POST", "/api/customers", {"email": customer.email,
                                                                   "customer_type": customer.customer_type}, 201)
            customer.id, customer.public_id = created["id"], created["public_id"]
            self.customers[customer.name] = customer
            self._note("QA", "Service", f"create {customer.customer_type} → {customer.public_id}",
                       customer=customer.name, at=at)

        if len(people) > 1 and self.scenario.parallel > 1:
            await self._in_parallel([functools.partial(create, c) for c in people], bar)
            # the customers in the scenario's order, not the calls' order
            for customer in people:
                self.customers[customer.name] = self.customers.pop(customer.name)
            return
        for customer in people:
            await create(customer)
            if bar is not None:
                bar.update(1)

    async def _global(self, step: Step) -> None:
        kind, stack = step.kind, self.stack
        if kind == "release":
            order = step.get("order")
            released = await stack.release(order if isinstance(order, str) else list(order))
            self._note("QA", "Network", f"release {released} held callbacks ({order})")
        elif kind == "outage":
            await stack.outage(step.get("system"), step.get("seconds"))
            seconds = step.get("seconds")
            self._note("QA", _lane(step.get("system")),
                       f"{step.get('system')} down" + (f" for {seconds:g} s" if seconds else " until it is back"),
                       ok=False)
        elif kind == "end_outage":
            await stack.end_outage(step.get("system"))
            self._note("QA", _lane(step.get("system")), f"{step.get('system')} back")
        elif kind == "advance_clock":
            self._note("QA", "Clock", f"advance {step.get('seconds'):g} s", kind="clock")
            await stack.advance_clock(float(step.get("seconds")))
        else:
            await self._network(step, None)

    async def _network(self, step: Step, customer: Customer | None) -> None:
        takes = STEP_KINDS[step.kind].arguments
        params = {name: step.get(name) for name in ("copies", "count", "seconds") if name in takes}
        await self.stack.network_rule(step.kind, customer.id if customer else None, **params)
        details = ", ".join(f"{k}={v}" for k, v in params.items())
        self._note("QA", "Network", f"{step.kind} next callbacks" + (f" ({details})" if details else ""),
                   customer=customer.name if customer else "", kind="network")

    async def _for_customer(self, step: Step, customer: Customer) -> None:
        kind, name, at = step.kind, customer.name, self.stack.now()
        if kind in ("duplicate", "hold", "delay", "drop", "lose_ack"):
            await self._network(step, customer)
            return
        if kind == "wait":
            await self._wait(step, customer)
            return
        lane = _LANE_OF_STEP[kind]
        if kind == "start_kyc":
            link = await self._call("POST", f"/api/customers/{customer.id}/kyc-link", None, 200)
            customer.applicant_id = link["applicant_id"]
            self._note("QA", lane, f"start KYC → applicant {customer.applicant_id}", customer=name, at=at)
        elif kind in ("submit_documents", "resubmit", "review", "on_hold"):
            if not customer.applicant_id:
                raise StepFailed(f"{name} has no applicant: start_kyc first")
            if kind == "review":
                answer, reject = step.get("answer"), step.get("reject_type")
                await self.stack.review(customer.applicant_id, answer, reject, list(step.get("labels")))
                labels = ",".join(step.get("labels"))
                said = answer + (f"/{reject}" if reject else "") + (f" [{labels}]" if labels else "")
                self._note("QA", lane, f"review {said}", customer=name)
            elif kind == "on_hold":
                await self.stack.on_hold(customer.applicant_id)
                self._note("QA", lane, "put on hold", customer=name)
            else:
                await self.stack.submit_documents(customer.applicant_id)
                self._note("QA", lane, "documents submitted" if kind == "submit_documents" else "documents resubmitted",
                           customer=name)
        elif kind == "deactivate":
            await self._call("POST", f"/api/customers/{customer.id}/deactivate", None, 200)
            self._note("QA", lane, "deactivate", customer=name, at=at)
        elif kind == "deposit":
            await self._call("POST", f"/api/customers/{customer.id}/deposits",
                             {"amount_cents": step.get("amount_cents")}, 201)
            self._note("QA", lane, f"deposit {step.get('amount_cents')} ¢", customer=name, at=at)
        elif kind == "withdraw":
            refused = bool(step.get("refused"))
            await self._call("POST", f"/api/customers/{customer.id}/withdrawals",
                             {"amount_cents": step.get("amount_cents")}, 409 if refused else 201)
            self._note("QA", lane, f"withdraw {step.get('amount_cents')} ¢" + (" → 409, refused" if refused else ""),
                       customer=name, at=at)
        else:
            raise ScenarioError(f"no way to run {kind!r} for a customer")

    async def _call(self, method: str, path: str, body: Any, expected: int) -> dict[str, Any]:
        assert self.api is not None
        response = await self.api.request(method, path, json=body)
        if response.status_code != expected:
            raise StepFailed(f"{method} {path} answered {response.status_code}, expected {expected}: "
                             f"{response.text[:300]}")
        return dict(response.json()) if response.content else {}

    async def _customer(self, customer: Customer) -> dict[str, Any]:
        assert self.api is not None
        response = await self.api.get(f"/api/customers/{customer.id}")
        response.raise_for_status()
        shown = dict(response.json())
        self.run_record.final[customer.name] = shown
        return shown

    async def _wait(self, step: Step, customer: Customer) -> None:
        timeout = float(step.get("timeout") or self.scenario.timeout)
        wanted = {k: step.get(k) for k in ("kyc_status", "activity_status") if step.get(k) is not None}
        failed_step, held = step.get("failed_step"), step.get("held")

        async def probe() -> Any:
            if held is not None:
                return await self.stack.held(customer.id)
            return await self._customer(customer)

        def reached(seen: Any) -> bool:
            if held is not None:
                return bool(seen >= held)
            if failed_step is not None:
                state = (seen.get("provisioning") or {}).get(failed_step) or {}
                if not (state.get("attempts", 0) >= 1 and state.get("last_error")):
                    return False
            return all(seen.get(k) == v for k, v in wanted.items())

        what = ", ".join([*(f"{k}={v}" for k, v in wanted.items()),
                          *([f"a failed {failed_step} attempt"] if failed_step else []),
                          *([f"{held} held callbacks"] if held is not None else [])])
        await _until(probe, reached, timeout, f"{customer.name}: {what}")
        self._note("Service", "QA", f"reached {what}", customer=customer.name, kind="api")

    # expectations
    def _expected(self) -> list[tuple[Expectation, str | None]]:
        pairs: list[tuple[Expectation, str | None]] = []
        for expectation in self.scenario.expectations:
            if expectation.customer is None:
                pairs.append((expectation, None))
            else:
                pairs += [(expectation, name) for name in self._members(expectation.customer)]
        return pairs

    async def _check_expectations(self, bar: Any) -> None:
        record = self.run_record
        deadline = time.monotonic() + self.scenario.timeout
        pairs = self._expected()
        if bar is not None:
            bar.total += len({name for _, name in pairs if name})
            bar.set_description(f"{self.scenario.name}: expectations")
        await self._states_reached(pairs, deadline, bar)
        await self._quiet(deadline)
        missed: dict[int, list[str]] = {}
        gate = asyncio.Semaphore(self.scenario.parallel)

        async def evaluate(expectation: Expectation, name: str | None) -> tuple[bool, dict[str, Any]]:
            async with gate:
                return await self._evaluate(expectation, name)

        # once more, with everything settled: an effect made twice shows now
        results = await asyncio.gather(*(evaluate(expectation, name) for expectation, name in pairs))
        for (expectation, name), (held, seen) in zip(pairs, results, strict=True):
            record.checks.append({"expectation": expectation.describe() if name is None or name == expectation.customer
                                  else f"{name} ({expectation.describe()})", "held": held, "seen": seen})
            if not held:
                missed.setdefault(id(expectation), []).append(f"{name or 'callbacks'} saw {seen}")
        for expectation in self.scenario.expectations:
            misses = missed.get(id(expectation), [])
            if misses:
                who = expectation.customer or "callbacks"
                some = "; ".join(misses[:3]) + (f"; … {len(misses) - 3} more" if len(misses) > 3 else "")
                record.failures.append(f"expected {who}: {_said(expectation)} — {len(misses)} did not: {some}")
        for name, customer in self.customers.items():
            if name not in self.run_record.final:
                await self._customer(customer)
            if name not in record.effects:
                record.effects[name] = await self._effects(customer)

    async def _states_reached(self, pairs: list[tuple[Expectation, str | None]], deadline: float, bar: Any) -> None:
        """Until every customer shows the states its expectations name (from the list of customers,
        a page for a hundred), or the deadline; the effects are checked after, once things are quiet."""
        wanted = {name: {k: v for k, v in e.fields.items() if k in _STATES} for e, name in pairs if name}
        waiting = {name for name, fields in wanted.items() if fields}
        done, pause = 0, 0.1
        while waiting and time.monotonic() < deadline:
            shown = await self._all_customers()
            for name in list(waiting):
                view = shown.get(self.customers[name].id, {})
                if all(view.get(k) == v for k, v in wanted[name].items()):
                    waiting.discard(name)
            if bar is not None:
                bar.update(len(wanted) - len(waiting) - done)
                done = len(wanted) - len(waiting)
            if waiting:
                await asyncio.sleep(pause)
                pause = min(pause * 1.5, 1.0)  # each look lists every customer: look less often as it drags on

    async def _all_customers(self) -> dict[str, dict[str, Any]]:
        assert self.api is not None
        found: dict[str, dict[str, Any]] = {}
        cursor = None
        mine = {c.id for c in self.customers.values()}
        while True:
            params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = await self.api.get("/api/customers", params=params)
            page.raise_for_status()
            body = page.json()
            found.update({c["id"]: c for c in body["items"] if c["id"] in mine})
            cursor = body.get("next_cursor")
            if not cursor or len(found) == len(mine):
                return found

    async def _quiet(self, deadline: float) -> None:
        assert self.api is not None
        while time.monotonic() < deadline:
            received = await self.api.get("/api/kyc/callbacks", params={"status": "received"})
            mine = {c.id for c in self.customers.values()}
            waiting = [c for c in received.json() if c.get("external_user_id") in mine] if received.is_success else []
            if not waiting and await self.stack.webhooks_settled():
                return
            await asyncio.sleep(0.1)

    async def _evaluate(self, expectation: Expectation, name: str | None) -> tuple[bool, dict[str, Any]]:
        assert self.api is not None
        if name is None:
            response = await self.api.get("/api/kyc/callbacks", params={"status": "failed"})
            response.raise_for_status()
            mine = {c.id for c in self.customers.values()}
            failed = [c for c in response.json() if c.get("external_user_id") in mine]
            return not failed, {"failed callbacks": len(failed)}
        customer = self.customers[name]
        shown = await self._customer(customer)
        seen: dict[str, Any] = {}
        if any(key in EFFECTS for key in expectation.fields):
            self.run_record.effects[name] = await self._effects(customer)
        for key in expectation.fields:
            seen[key] = self.run_record.effects[name][key] if key in EFFECTS else shown.get(key)
        return all(seen[k] == v for k, v in expectation.fields.items()), seen

    async def _effects(self, customer: Customer) -> dict[str, Any]:
        assert self.api is not None
        account = await self.api.get(f"/api/customers/{customer.id}/account")
        body = account.json() if account.status_code == 200 else {}
        users = await self.stack.users_of(customer.id)
        return {"users": len(users), "enabled_users": sum(1 for user in users if user.get("enabled")),
                "emails": len(await self.stack.emails_to(customer.email)),
                "accounts": 1 if account.status_code == 200 else 0,
                "balance_cents": body.get("balance_cents"), "account_status": body.get("status"),
                "account_set": body.get("account_set")}

    # what happened
    async def _gather(self, start: float) -> None:
        record = self.run_record
        aliases: dict[str, str] = {}
        for name, customer in self.customers.items():
            aliases.update({customer.id: name, customer.applicant_id: name, customer.email: name})
        if len(self.customers) <= 50 and self.api is not None:  # callbacks name no customer in their jobs
            for name, customer in self.customers.items():
                response = await self.api.get(f"/api/customers/{customer.id}/kyc/callbacks")
                if response.is_success:
                    aliases.update({f"callback_id={c['id']}": name for c in response.json()})
        aliases.pop("", None)
        fakes = await self.stack.fake_events(start)
        record.timeline = Timeline([*self.events, *fakes], title=self.scenario.name, start=start).named(aliases)
        record.journals = await self.stack.journals()


def _group_size(scenario: Scenario, name: str) -> int:
    for step in scenario.steps:
        if step.kind == "create" and step.get("customer") == name:
            return int(step.get("count") or 1)
    return 1


def _lane(system: str) -> str:
    return {"keycloak": "Keycloak", "smtp": "SMTP", "sumsub": "Sumsub"}[system]


def _said(expectation: Expectation) -> str:
    return ", ".join(f"{k}={v}" for k, v in expectation.fields.items()) or "no failed callbacks"


async def _until(probe: Callable[[], Awaitable[T]], holds: Callable[[T], bool], timeout: float,  # noqa: ASYNC109 - a deadline on a condition, not a sleep
                 what: str) -> T:
    def shown(seen: T) -> object:
        return {k: seen.get(k) for k in ("kyc_status", "activity_status", "provisioning")} \
            if isinstance(seen, dict) else seen

    return await eventually(probe, until=holds, timeout=timeout, what=what, failure=StepFailed, describe=shown)
