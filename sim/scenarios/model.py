"""Scenarios in business language: steps a QA engineer would say, and what must hold at the end.

One model, two spellings. In Python, a builder:

    scenario = (Scenario.build("rejected, then approved", seed=7)
                .create("ada")
                .start_kyc("ada")
                .submit_documents("ada")
                .review("ada", "RED", reject_type="RETRY", labels=["SCREENSHOTS"])
                .resubmit("ada")
                .review("ada", "GREEN")
                .expect("ada", kyc_status="approved", activity_status="active", users=1, emails=1, accounts=1)
                .expect_no_failed_callbacks())

In YAML (``fixtures/scenarios/*.yaml``), the same steps, one mapping each, the step's kind as its key:

    name: rejected, then approved
    seed: 7
    steps:
      - create: ada
      - start_kyc: ada
      - submit_documents: ada
      - review: {customer: ada, answer: RED, reject_type: RETRY, labels: [SCREENSHOTS]}
      - resubmit: ada
      - review: {customer: ada, answer: GREEN}
    expect:
      - {customer: ada, kyc_status: approved, activity_status: active, users: 1, emails: 1, accounts: 1}
      - no_failed_callbacks: true

A step's ``customer`` names one customer, or a group made by ``create: {customer: NAME, count: N}``
(its members are ``NAME-1`` ... ``NAME-N``); a step on a group is done for each member. Every
step's arguments are checked when the scenario is built or loaded, so a typo fails before a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

__all__ = [
    "EXPECTATION_FIELDS",
    "STEP_KINDS",
    "Expectation",
    "Scenario",
    "ScenarioError",
    "Step",
    "StepKind",
]


class ScenarioError(ValueError):
    """A scenario that cannot be run as written: an unknown step, a missing or unknown argument."""


@dataclass(frozen=True)
class StepKind:
    """What one kind of step takes: its arguments with their defaults (``REQUIRED`` when none), and
    the argument a bare value stands for (``- start_kyc: ada``)."""

    name: str
    arguments: Mapping[str, Any]
    shorthand: str | None
    says: str  # the step in one line, for a reader


REQUIRED: Any = object()

CUSTOMER_TYPES = ("individual", "government_entity", "private_company", "bank", "financial_institution",
                  "foreign_agency_or_subsidiary", "non_domiciled_company")
SYSTEMS = ("keycloak", "smtp", "sumsub")
RELEASE_ORDERS = ("as_sent", "reversed", "random")

_KINDS = [
    # the operator, through the service's API
    StepKind("create", {"customer": REQUIRED, "type": "individual", "count": None}, "customer",
             "the operator creates the customer (a group of `count`), with made-up data from the seed"),
    StepKind("start_kyc", {"customer": REQUIRED}, "customer", "the operator asks for the customer's KYC link"),
    StepKind("deactivate", {"customer": REQUIRED}, "customer", "the operator suspends the customer"),
    StepKind("deposit", {"customer": REQUIRED, "amount_cents": REQUIRED}, None, "money in"),
    StepKind("withdraw", {"customer": REQUIRED, "amount_cents": REQUIRED, "refused": False}, None,
             "money out; `refused: true` when it must be refused (it would overdraw)"),
    # Sumsub: the applicant's life
    StepKind("submit_documents", {"customer": REQUIRED}, "customer", "the customer sends their documents"),
    StepKind("resubmit", {"customer": REQUIRED}, "customer", "after a RETRY rejection, documents again"),
    StepKind("review", {"customer": REQUIRED, "answer": REQUIRED, "reject_type": None, "labels": ()}, None,
             "a moderator answers GREEN, or RED with RETRY or FINAL and labels"),
    StepKind("on_hold", {"customer": REQUIRED}, "customer", "Sumsub puts the applicant on hold"),
    # the network between Sumsub and the service: each applies to the customer's next callbacks
    StepKind("duplicate", {"customer": None, "copies": 1, "count": 1}, "customer",
             "each of the next `count` callbacks arrives `copies` extra times"),
    StepKind("hold", {"customer": None}, "customer", "keep the customer's callbacks back until `release`"),
    StepKind("release", {"order": "as_sent"}, "order",
             "let held callbacks in: as_sent, reversed, random (from the seed), or a list of positions"),
    StepKind("delay", {"customer": None, "seconds": REQUIRED, "count": 1}, None,
             "the next `count` callbacks arrive `seconds` later on the clock"),
    StepKind("drop", {"customer": None, "count": 1}, "customer",
             "the next `count` callbacks are lost on the way; Sumsub retries on its ladder"),
    StepKind("lose_ack", {"customer": None, "count": 1}, "customer",
             "the service gets the next `count` callbacks but Sumsub never hears the answer, and retries"),
    # the systems around the service
    StepKind("outage", {"system": REQUIRED, "seconds": None}, "system",
             "keycloak, smtp or sumsub is down for `seconds` of the clock (until `end_outage` when not given)"),
    StepKind("end_outage", {"system": REQUIRED}, "system", "the system is back"),
    StepKind("advance_clock", {"seconds": REQUIRED}, "seconds",
             "time passes: retries and delayed callbacks that fall due go out"),
    # waiting for the service
    StepKind("wait", {"customer": REQUIRED, "kyc_status": None, "activity_status": None, "failed_step": None,
                      "held": None, "timeout": None}, None,
             "until the customer has the given states, a failed attempt of a provisioning step, or "
             "`held` callbacks in the network"),
]
STEP_KINDS: Mapping[str, StepKind] = {kind.name: kind for kind in _KINDS}

# what an expectation may say about a customer; each is checked once the run settles
EXPECTATION_FIELDS = ("kyc_status", "verification_status", "kyc_level", "activity_status", "balance_cents",
                      "account_status", "account_set", "users", "enabled_users", "emails", "accounts")


@dataclass(frozen=True)
class Step:
    kind: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, kind: str, arguments: Mapping[str, Any] | Any = None) -> Step:
        """A checked step; ``arguments`` is a mapping, or the bare value of the kind's shorthand."""
        spec = STEP_KINDS.get(kind)
        if spec is None:
            raise ScenarioError(f"unknown step {kind!r}; steps are: {', '.join(STEP_KINDS)}")
        if not isinstance(arguments, Mapping):
            if spec.shorthand is None:
                raise ScenarioError(f"step {kind!r} takes a mapping of {', '.join(spec.arguments)}")
            arguments = {} if arguments is None else {spec.shorthand: arguments}
        unknown = set(arguments) - set(spec.arguments)
        if unknown:
            raise ScenarioError(f"step {kind!r} has no argument {', '.join(sorted(unknown))}; "
                                f"it takes {', '.join(spec.arguments)}")
        given = {name: arguments.get(name, default) for name, default in spec.arguments.items()}
        missing = [name for name, value in given.items() if value is REQUIRED]
        if missing:
            raise ScenarioError(f"step {kind!r} needs {', '.join(missing)}")
        _check(kind, given)
        return cls(kind, {name: tuple(value) if isinstance(value, list) else value
                          for name, value in given.items() if _differs(value, spec.arguments[name])})

    def get(self, name: str) -> Any:
        """The argument as given, or the kind's default."""
        if name in self.arguments:
            return self.arguments[name]
        default = STEP_KINDS[self.kind].arguments[name]
        return None if default is REQUIRED else default

    def to_data(self) -> dict[str, Any]:
        """As written in a scenario file: the shorthand when it says everything."""
        shorthand = STEP_KINDS[self.kind].shorthand
        if shorthand is not None and set(self.arguments) <= {shorthand}:
            return {self.kind: self.arguments.get(shorthand)}
        return {self.kind: {name: list(value) if isinstance(value, tuple) else value
                            for name, value in self.arguments.items()}}

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.arguments.items() if k != "customer")
        who = self.arguments.get("customer")
        return " ".join(part for part in (self.kind, str(who) if who else "", f"({args})" if args else "") if part)


def _differs(value: Any, default: Any) -> bool:
    """Whether an argument says something its default does not (required ones always do)."""
    if default is REQUIRED:
        return True
    if value is None or (not value and not default and value is not False):
        return False
    return bool(value != default)


def _check(kind: str, given: Mapping[str, Any]) -> None:
    if kind == "create":
        if given["type"] not in CUSTOMER_TYPES:
            raise ScenarioError(f"a customer's type is one of {', '.join(CUSTOMER_TYPES)}, not {given['type']!r}")
        if given["count"] is not None and (not isinstance(given["count"], int) or given["count"] < 1):
            raise ScenarioError("create's count is a positive number")
    if kind == "review":
        if given["answer"] not in ("GREEN", "RED"):
            raise ScenarioError(f"a review answers GREEN or RED, not {given['answer']!r}")
        if given["answer"] == "GREEN" and (given["reject_type"] or given["labels"]):
            raise ScenarioError("a GREEN review has no reject type or labels")
        if given["reject_type"] not in (None, "RETRY", "FINAL"):
            raise ScenarioError(f"reject_type is RETRY or FINAL, not {given['reject_type']!r}")
    if kind in ("outage", "end_outage") and given["system"] not in SYSTEMS:
        raise ScenarioError(f"the systems are {', '.join(SYSTEMS)}, not {given['system']!r}")
    if kind == "release":
        order = given["order"]
        if not (order in RELEASE_ORDERS or (isinstance(order, list | tuple)
                and all(isinstance(i, int) for i in order))):
            raise ScenarioError(f"release order is one of {', '.join(RELEASE_ORDERS)} or a list of positions")
    if kind == "wait" and not any(given[k] is not None for k in ("kyc_status", "activity_status", "failed_step",
                                                                  "held")):
        raise ScenarioError("wait for what? kyc_status, activity_status, failed_step or held")
    for name in ("amount_cents", "copies", "seconds"):
        value = given.get(name)
        if value is not None and (not isinstance(value, int | float) or value < 0):
            raise ScenarioError(f"{kind}'s {name} is a number, not negative")


@dataclass(frozen=True)
class Expectation:
    """What must hold once the run settles: a customer's state and effects, or no failed callbacks."""

    customer: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    no_failed_callbacks: bool = False

    @classmethod
    def make(cls, data: Mapping[str, Any]) -> Expectation:
        data = dict(data)
        if "no_failed_callbacks" in data:
            if set(data) != {"no_failed_callbacks"}:
                raise ScenarioError("no_failed_callbacks stands alone")
            return cls(no_failed_callbacks=bool(data["no_failed_callbacks"]))
        customer = data.pop("customer", None)
        if not customer:
            raise ScenarioError("an expectation names a customer (or is `no_failed_callbacks: true`)")
        unknown = set(data) - set(EXPECTATION_FIELDS)
        if unknown:
            raise ScenarioError(f"an expectation has no {', '.join(sorted(unknown))}; "
                                f"it may say {', '.join(EXPECTATION_FIELDS)}")
        if not data:
            raise ScenarioError(f"the expectation for {customer} says nothing")
        return cls(customer=str(customer), fields=data)

    def to_data(self) -> dict[str, Any]:
        if self.customer is None:
            return {"no_failed_callbacks": self.no_failed_callbacks}
        return {"customer": self.customer, **self.fields}

    def describe(self) -> str:
        if self.customer is None:
            return "no callback failed"
        return f"{self.customer}: " + ", ".join(f"{k}={v}" for k, v in self.fields.items())


@dataclass
class Scenario:
    name: str
    seed: int = 0
    description: str = ""
    steps: list[Step] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    timeout: float = 60.0  # seconds a wait or the expectations may take
    # operator calls for a group's members at once; above 1, ids the fakes hand out follow arrival
    # order, so a replay gives the same ids but not always to the same customer
    parallel: int = 1

    # building
    @classmethod
    def build(cls, name: str, *, seed: int = 0, description: str = "", timeout: float = 60.0) -> Scenario:
        return cls(name, seed, description, timeout=timeout)

    def step(self, kind: str, arguments: Mapping[str, Any] | Any = None, /, **named: Any) -> Self:
        self.steps.append(Step.make(kind, arguments if arguments is not None else named))
        return self

    def create(self, customer: str, type: str = "individual", *, count: int | None = None) -> Self:
        return self.step("create", customer=customer, type=type, count=count)

    def start_kyc(self, customer: str) -> Self:
        return self.step("start_kyc", customer=customer)

    def submit_documents(self, customer: str) -> Self:
        return self.step("submit_documents", customer=customer)

    def resubmit(self, customer: str) -> Self:
        return self.step("resubmit", customer=customer)

    def review(self, customer: str, answer: str, *, reject_type: str | None = None,
               labels: Sequence[str] = ()) -> Self:
        return self.step("review", customer=customer, answer=answer, reject_type=reject_type, labels=tuple(labels))

    def on_hold(self, customer: str) -> Self:
        return self.step("on_hold", customer=customer)

    def duplicate(self, customer: str | None = None, *, copies: int = 1, count: int = 1) -> Self:
        return self.step("duplicate", customer=customer, copies=copies, count=count)

    def hold(self, customer: str | None = None) -> Self:
        return self.step("hold", customer=customer)

    def release(self, order: str | Sequence[int] = "as_sent") -> Self:
        return self.step("release", order=order if isinstance(order, str) else list(order))

    def delay(self, seconds: float, customer: str | None = None, *, count: int = 1) -> Self:
        return self.step("delay", customer=customer, seconds=seconds, count=count)

    def drop(self, customer: str | None = None, *, count: int = 1) -> Self:
        return self.step("drop", customer=customer, count=count)

    def lose_ack(self, customer: str | None = None, *, count: int = 1) -> Self:
        return self.step("lose_ack", customer=customer, count=count)

    def outage(self, system: str, seconds: float | None = None) -> Self:
        return self.step("outage", system=system, seconds=seconds)

    def end_outage(self, system: str) -> Self:
        return self.step("end_outage", system=system)

    def advance_clock(self, seconds: float) -> Self:
        return self.step("advance_clock", seconds=seconds)

    def deactivate(self, customer: str) -> Self:
        return self.step("deactivate", customer=customer)

    def deposit(self, customer: str, amount_cents: int) -> Self:
        return self.step("deposit", customer=customer, amount_cents=amount_cents)

    def withdraw(self, customer: str, amount_cents: int, *, refused: bool = False) -> Self:
        return self.step("withdraw", customer=customer, amount_cents=amount_cents, refused=refused)

    def wait(self, customer: str, *, kyc_status: str | None = None, activity_status: str | None = None,
             failed_step: str | None = None, held: int | None = None, timeout: float | None = None) -> Self:
        return self.step("wait", customer=customer, kyc_status=kyc_status, activity_status=activity_status,
                         failed_step=failed_step, held=held, timeout=timeout)

    def expect(self, customer: str, **fields: Any) -> Self:
        self.expectations.append(Expectation.make({"customer": customer, **fields}))
        return self

    def expect_no_failed_callbacks(self) -> Self:
        self.expectations.append(Expectation(no_failed_callbacks=True))
        return self

    # reading and writing
    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Scenario:
        if not isinstance(data, Mapping) or "name" not in data:
            raise ScenarioError("a scenario is a mapping with a name, steps and expectations")
        unknown = set(data) - {"name", "seed", "description", "steps", "expect", "timeout", "parallel"}
        if unknown:
            raise ScenarioError(f"a scenario has no {', '.join(sorted(unknown))}")
        steps = []
        for number, entry in enumerate(data.get("steps") or [], start=1):
            if not isinstance(entry, Mapping) or len(entry) != 1:
                raise ScenarioError(f"step {number} is one mapping `kind: arguments`, not {entry!r}")
            ((kind, arguments),) = entry.items()
            try:
                steps.append(Step.make(str(kind), arguments))
            except ScenarioError as exc:
                raise ScenarioError(f"step {number}: {exc}") from None
        expectations = [Expectation.make(entry) for entry in data.get("expect") or []]
        return cls(str(data["name"]), int(data.get("seed", 0)), str(data.get("description", "")).strip(), steps,
                   expectations, float(data.get("timeout", 60.0)), max(1, int(data.get("parallel", 1))))

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "seed": self.seed}
        if self.description:
            data["description"] = self.description
        if self.timeout != 60.0:
            data["timeout"] = self.timeout
        if self.parallel != 1:
            data["parallel"] = self.parallel
        data["steps"] = [step.to_data() for step in self.steps]
        data["expect"] = [expectation.to_data() for expectation in self.expectations]
        return data

    def with_seed(self, seed: int | None) -> Scenario:
        if seed is None:
            return self
        return Scenario(self.name, seed, self.description, list(self.steps), list(self.expectations), self.timeout,
                        self.parallel)

    def table(self) -> Any:
        """The steps as a DataFrame: what a reader sees before a run."""
        import pandas as pd

        return pd.DataFrame([{"step": step.kind, "customer": step.arguments.get("customer", ""),
                              "details": ", ".join(f"{k}={v}" for k, v in step.arguments.items() if k != "customer"),
                              "meaning": STEP_KINDS[step.kind].says} for step in self.steps],
                            index=range(1, len(self.steps) + 1))
