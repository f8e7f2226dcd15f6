"""Scenarios as data: the builder and the files say the same thing, and a wrong step fails on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.scenarios import Scenario, ScenarioError, dump_scenario, load_scenario, scenario_files
from sim.scenarios.model import Expectation, Step


def test_the_builder_and_the_file_make_the_same_scenario() -> None:
    built = (Scenario.build("rejected with RETRY, resubmitted, approved", seed=13)
             .create("grace").start_kyc("grace").submit_documents("grace")
             .review("grace", "RED", reject_type="RETRY", labels=["SCREENSHOTS", "BAD_SELFIE"])
             .wait("grace", kyc_status="rejected").resubmit("grace").review("grace", "GREEN")
             .wait("grace", activity_status="active")
             .expect("grace", kyc_status="approved", verification_status="verified", activity_status="active",
                     users=1, emails=1, accounts=1)
             .expect_no_failed_callbacks())
    loaded = load_scenario("03_retry_then_approved")
    assert (built.name, built.seed, built.steps, built.expectations) == (
        loaded.name, loaded.seed, loaded.steps, loaded.expectations)


def test_a_scenario_written_and_read_back_is_the_same(tmp_path: Path) -> None:
    for file in scenario_files():
        scenario = load_scenario(file)
        again = load_scenario(dump_scenario(scenario, tmp_path / file.name, comment="round trip"))
        assert again.to_data() == scenario.to_data(), file.name


def test_every_scenario_file_loads_and_names_its_customers_before_using_them() -> None:
    files = scenario_files()
    assert len(files) >= 8
    for file in files:
        scenario = load_scenario(file)
        known: set[str] = set()
        for step in scenario.steps:
            who = step.arguments.get("customer")
            if step.kind == "create":
                known.add(str(who))
                if step.get("count"):
                    known.update(f"{who}-{i}" for i in range(1, step.get("count") + 1))
            elif who is not None:
                assert who in known, f"{file.name}: {step.describe()} before {who} exists"
        assert scenario.expectations, file.name


@pytest.mark.parametrize(("kind", "arguments", "complaint"), [
    ("approve", "ada", "unknown step 'approve'"),
    ("review", {"customer": "ada"}, "needs answer"),
    ("review", {"customer": "ada", "answer": "AMBER"}, "GREEN or RED"),
    ("review", {"customer": "ada", "answer": "GREEN", "labels": ["FORGERY"]}, "no reject type or labels"),
    ("outage", "ldap", "the systems are"),
    ("create", {"customer": "x", "type": "person"}, "one of individual"),
    ("wait", {"customer": "ada"}, "wait for what"),
    ("deposit", "ada", "takes a mapping"),
    ("hold", {"customer": "ada", "for": 3}, "has no argument for"),
    ("release", {"order": "sideways"}, "release order"),
])
def test_a_wrong_step_is_refused_with_a_reason(kind: str, arguments: object, complaint: str) -> None:
    with pytest.raises(ScenarioError, match=complaint):
        Step.make(kind, arguments)


def test_a_file_with_a_wrong_step_names_the_file_and_the_step(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("name: broken\nsteps:\n  - create: ada\n  - review: {customer: ada, answer: BLUE}\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: step 2: a review answers GREEN or RED"):
        load_scenario(file)


def test_an_expectation_says_something_known() -> None:
    with pytest.raises(ScenarioError, match="has no colour"):
        Expectation.make({"customer": "ada", "colour": "green"})
    with pytest.raises(ScenarioError, match="says nothing"):
        Expectation.make({"customer": "ada"})


def test_a_shorthand_is_written_back_as_a_shorthand() -> None:
    assert Step.make("start_kyc", "ada").to_data() == {"start_kyc": "ada"}
    assert Step.make("create", {"customer": "ada", "type": "individual"}).to_data() == {"create": "ada"}
    assert Step.make("review", {"customer": "ada", "answer": "RED", "labels": ["SPAM"]}).to_data() == {
        "review": {"customer": "ada", "answer": "RED", "labels": ["SPAM"]}}
