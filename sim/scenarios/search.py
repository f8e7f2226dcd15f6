"""Property search: a hypothesis state machine whose rules are scenario steps, against one sandbox.

Each example is one new customer taken through Sumsub's lifecycle (documents, on hold, a review:
GREEN, RED RETRY then documents again, or RED FINAL) while the rules program the network and the
systems around the service: duplicate, hold and release in any order, delay, drop, lose the
acknowledgement, advance the clock, take Keycloak or SMTP down and bring them back. The rules are
the contract's:

- at every step, the customer never has more than one Keycloak user, one email or one account;
- once everything is delivered and quiet, the customer is where in-order delivery of what arrived
  would put it (by ``createdAtMs``): approved and active with one of each, rejected, or waiting;
- no callback failed.

A broken rule is shrunk by hypothesis to a shortest sequence of steps, saved as a scenario file that
fails on replay (``python -m sim replay FILE``): the steps, then the expectations the contract says.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from sim.network import Match
from sim.sandbox import Sandbox
from sim.scenarios.files import dump_scenario
from sim.scenarios.model import Scenario, Step
from sim.scenarios.runner import ScenarioRunner
from sim.scenarios.stacks import InProcessStack, fresh_sandbox

__all__ = ["search"]

T = TypeVar("T")
# the end of every example: the systems back, what is held let in newest first (the order that tests
# the ordering rule hardest), and the clock past Sumsub's whole retry ladder
SETTLE = [Step.make("end_outage", "keycloak"), Step.make("end_outage", "smtp"), Step.make("release", "reversed"),
          Step.make("advance_clock", 24 * 3600)]
EXAMPLE_TIMEOUT = 15.0


class SandboxThread:
    """A sandbox on an event loop of its own thread, for hypothesis's rules, which are plain calls."""

    def __init__(self, seed: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="search-sandbox", daemon=True)
        self.thread.start()
        self.seed = seed
        self._stop: asyncio.Event | None = None
        self._ready: Future[Sandbox] = Future()
        self._done = asyncio.run_coroutine_threadsafe(self._serve(), self.loop)
        self.sandbox = self._ready.result(timeout=120)
        self.stack = self.call(self._stack())
        self.api = self.call(self.stack.operator_client())

    async def _stack(self) -> InProcessStack:
        # Examples share the sandbox, and advancing its clock runs it ahead of the service's wall
        # clock: the service's signed Sumsub requests must still be taken, and the operator's token
        # (got once, before any jump) must outlive the search.
        self.sandbox.sumsub.timestamp_tolerance = float("inf")
        self.sandbox.keycloak.realm(self.sandbox.keycloak.admin_realm).access_token_lifespan = 24 * 3600
        return InProcessStack(self.sandbox)

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with fresh_sandbox(self.seed) as sandbox:
                self._ready.set_result(sandbox)
                await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.call(self.api.aclose())
        self.stack.close()
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._done.result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class Search:
    """What the machines share: the sandbox, a count of examples, and the machine that ran last."""

    thread: SandboxThread
    examples = 0
    last: OnboardingMachine | None = None


class OnboardingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        Search.examples += 1
        Search.last = self
        self.name = f"c{Search.examples}"
        self.scenario = Scenario.build(f"found by sim search ({self.name})", timeout=EXAMPLE_TIMEOUT)
        self.runner = ScenarioRunner(Search.thread.stack, self.scenario, shared=True, progress=False)
        self.runner.api = Search.thread.api
        self.sumsub = "init"  # the applicant as Sumsub has it: init, pending, onHold, retry, done
        self.down: set[str] = set()
        self.holding = False

    def do(self, kind: str, arguments: Any = None) -> None:
        step = Step.make(kind, arguments)
        self.scenario.steps.append(step)
        Search.thread.call(self.runner.do(step))

    @property
    def customer_id(self) -> str:
        return self.runner.customers[self.name].id

    # the customer's life
    @initialize(holding=st.booleans())
    def a_customer_starts_kyc(self, holding: bool) -> None:
        """Half the customers have their callbacks held from the start: reordering them is where
        the contract's ordering rule is tested, and it takes a hold, then a release, to reorder."""
        self.do("create", self.name)
        if holding:
            self.hold()
        self.do("start_kyc", self.name)

    @precondition(lambda self: self.sumsub in ("init", "retry"))
    @rule()
    def documents(self) -> None:
        self.do("submit_documents" if self.sumsub == "init" else "resubmit", self.name)
        self.sumsub = "pending"

    @precondition(lambda self: self.sumsub == "pending")
    @rule()
    def on_hold(self) -> None:
        self.do("on_hold", self.name)
        self.sumsub = "onHold"

    @precondition(lambda self: self.sumsub != "done")
    @rule(verdict=st.sampled_from(["GREEN", "RETRY", "FINAL"]))
    def review(self, verdict: str) -> None:
        """A moderator's answer; documents first when Sumsub has none to review (a shorter way to a
        lifecycle worth searching: RED RETRY, then GREEN, is two rules)."""
        if self.sumsub in ("init", "retry"):
            self.documents()
        if verdict == "GREEN":
            self.do("review", {"customer": self.name, "answer": "GREEN"})
        else:
            label = "SCREENSHOTS" if verdict == "RETRY" else "FORGERY"
            self.do("review", {"customer": self.name, "answer": "RED", "reject_type": verdict, "labels": [label]})
        self.sumsub = "retry" if verdict == "RETRY" else "done"

    # the network: one rule for what it may do to the next callbacks, so that it weighs as much as
    # a review when hypothesis picks the next rule
    @rule(kind=st.sampled_from(["duplicate", "delay", "drop", "lose_ack", "hold"]), copies=st.integers(1, 2),
          count=st.integers(1, 3), seconds=st.sampled_from([30, 90]))
    def network(self, kind: str, copies: int, count: int, seconds: int) -> None:
        if kind == "duplicate":
            self.do("duplicate", {"customer": self.name, "copies": copies, "count": count})
        elif kind == "delay":
            self.do("delay", {"customer": self.name, "seconds": seconds})
        elif kind == "hold":
            if not self.holding:
                self.hold()
        else:
            self.do(kind, self.name)

    def hold(self) -> None:
        self.do("hold", self.name)
        self.holding = True

    @precondition(lambda self: self.holding)
    @rule(order=st.sampled_from(["as_sent", "reversed", "random"]))
    def release(self, order: str) -> None:
        self.do("release", order)
        self.holding = False

    @rule(seconds=st.sampled_from([60, 300, 3600]))
    def advance_clock(self, seconds: int) -> None:
        self.do("advance_clock", seconds)

    # the systems around: down, or back
    @rule(system=st.sampled_from(["keycloak", "smtp"]))
    def outage(self, system: str) -> None:
        if system in self.down:
            self.do("end_outage", system)
            self.down.discard(system)
        else:
            self.do("outage", system)
            self.down.add(system)

    # the rules of the contract
    @invariant()
    def never_two_of_anything(self) -> None:
        if self.name not in self.runner.customers:
            return
        effects = Search.thread.call(self.runner.effects_of(self.name))
        twice = {what: effects[what] for what in ("users", "emails", "accounts") if effects[what] > 1}
        assert not twice, f"{self.name} has more than one of {twice}"

    def teardown(self) -> None:
        try:
            if self.name in self.runner.customers:
                for step in SETTLE:
                    self.do(step.kind, step.arguments)
                self.expect_what_the_contract_says()
                failures = Search.thread.call(self.runner.verify())
                assert not failures, "\n".join(failures)
        finally:
            Search.thread.call(self._forget_rules())

    def expect_what_the_contract_says(self) -> None:
        """In-order delivery of what arrived: the last state-changing callback by createdAtMs decides."""
        network = Search.thread.sandbox.network
        arrived: dict[str, dict[str, Any]] = {}
        for record in network.arrivals(match=Match(external_user_id=self.customer_id)):
            arrived.setdefault(record.message.delivery_id, json.loads(record.body))
        kyc_status = "pending"
        for payload in sorted(arrived.values(), key=lambda p: str(p.get("createdAtMs"))):
            if payload.get("type") == "applicantOnHold":
                kyc_status = "review_needed"
            elif payload.get("type") == "applicantReviewed":
                answer = (payload.get("reviewResult") or {}).get("reviewAnswer")
                kyc_status = "approved" if answer == "GREEN" else "rejected"
        made = 1 if kyc_status == "approved" else 0
        self.scenario.expect(self.name, kyc_status=kyc_status, activity_status="active" if made else "inactive",
                             users=made, emails=made, accounts=made)
        self.scenario.expect_no_failed_callbacks()

    async def _forget_rules(self) -> None:
        box = Search.thread.sandbox
        box.network.clear()
        if box.network.held:
            await box.network.release()
        box.keycloak.faults.clear()
        box.smtp.faults.clear()


def search(*, examples: int = 20, seed: int = 0, out: Path = Path("."), steps: int = 10) -> Path | None:
    """Try ``examples`` scenarios; on a broken rule, the shrunk scenario's file (else None)."""
    Search.thread = SandboxThread(seed)
    Search.examples, Search.last = 0, None
    machine = hypothesis_seed(seed)(OnboardingMachine)
    try:
        run_state_machine_as_test(machine, settings=settings(
            max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
            suppress_health_check=list(HealthCheck), print_blob=False, report_multiple_bugs=False))
    except AssertionError as broken:
        last = Search.last
        assert last is not None
        out.mkdir(parents=True, exist_ok=True)
        file = out / f"search-seed{seed}-{last.name}.yaml"
        last.scenario.name = f"found by sim search (seed {seed})"
        last.scenario.seed = seed
        return dump_scenario(last.scenario, file, comment=f"a rule broke:\n{broken}")
    finally:
        Search.thread.close()
    return None
