"""Scenario files run with ``python -m sim run FILE --env-file stack.env`` against a stack started by
``python -m sim up`` in a process of its own: the fakes driven only over their ``/__admin/`` API."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sim.scenarios import load_scenario, run_scenario
from sim.scenarios.model import ScenarioError
from sim.scenarios.sim_up import SimUpProcess
from tests.support.databases import server_url

REPO_ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = REPO_ROOT / "fixtures" / "scenarios"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# callbacks duplicated, held and let in shuffled, dropped and unacknowledged; Keycloak down for two
# minutes of the clock and the mail server until it is back, as a customer is approved
NETWORK_AND_OUTAGES = """\
name: network faults and outages, against a running stack
seed: 41
steps:
  - create: ada
  - create: bob
  - create: cy
  - duplicate: {customer: ada, copies: 2, count: 2}
  - hold: bob
  - drop: cy
  - lose_ack: cy
  - start_kyc: ada
  - start_kyc: bob
  - start_kyc: cy
  - submit_documents: ada
  - submit_documents: bob
  - submit_documents: cy
  - review: {customer: bob, answer: GREEN}
  - wait: {customer: bob, held: 3}
  - release: random
  - wait: {customer: bob, activity_status: active}
  - outage: {system: keycloak, seconds: 120}
  - outage: smtp
  - review: {customer: ada, answer: GREEN}
  - wait: {customer: ada, failed_step: keycloak_user}
  - advance_clock: 120
  - wait: {customer: ada, failed_step: welcome_email}
  - end_outage: smtp
  - wait: {customer: ada, activity_status: active}
  - review: {customer: cy, answer: GREEN}
  - advance_clock: 300
  - wait: {customer: cy, activity_status: active}
expect:
  - {customer: ada, kyc_status: approved, activity_status: active, users: 1, emails: 1, accounts: 1}
  - {customer: bob, kyc_status: approved, activity_status: active, users: 1, emails: 1, accounts: 1}
  - {customer: cy, kyc_status: approved, activity_status: active, users: 1, emails: 1, accounts: 1}
  - no_failed_callbacks: true
"""

# rejected for good, yet expected approved: an expectation that cannot hold
WRONG_EXPECTATION = """\
name: rejected yet expected approved
seed: 43
timeout: 5
steps:
  - create: mallory
  - start_kyc: mallory
  - submit_documents: mallory
  - review: {customer: mallory, answer: RED, reject_type: FINAL, labels: [FORGERY]}
  - wait: {customer: mallory, kyc_status: rejected}
expect:
  - {customer: mallory, kyc_status: approved}
"""

# ending a Sumsub outage clears every Sumsub fault over the admin API, the held callbacks' rule too
CANNOT_RUN_REMOTELY = """\
name: a held callback and a Sumsub outage ended by hand
steps:
  - create: eve
  - hold: eve
  - outage: sumsub
  - start_kyc: eve
  - end_outage: sumsub
  - release: as_sent
"""


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[SimUpProcess]:
    with pytest.MonkeyPatch.context() as env:  # the stack's database on the tests' server
        env.setenv("DATABASE_URL", os.environ.get("DATABASE_URL") or await server_url())
        up = await SimUpProcess.start(seed=31)
    try:
        yield up
    finally:
        await up.stop()


async def sim_run(*args: str | Path, cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim", "run", *map(str, args), cwd=REPO_ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_two_scenario_files_pass_against_sim_up(stack: SimUpProcess, tmp_path: Path) -> None:
    faults = tmp_path / "network_and_outages.yaml"
    faults.write_text(NETWORK_AND_OUTAGES)

    status, output = await sim_run(SCENARIOS / "08_against_a_running_stack.yaml", faults,
                                   "--env-file", stack.env_file, "--out", tmp_path, cwd=tmp_path)

    assert status == 0, output[-4000:]
    assert "on hold, then approved, against a running stack (seed 31): passed" in output
    assert "network faults and outages, against a running stack (seed 41): passed" in output


async def test_a_failing_expectation_exits_1_and_leaves_its_reproduction(stack: SimUpProcess, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(WRONG_EXPECTATION)

    status, output = await sim_run(wrong, "--env-file", stack.env_file, "--out", tmp_path / "out", cwd=tmp_path)

    assert status == 1, output[-4000:]
    assert "rejected yet expected approved (seed 43): FAILED" in output
    assert "expected mallory: kyc_status=approved" in output, output
    assert (tmp_path / "out" / "wrong.seed43.yaml").exists()


async def test_a_step_that_cannot_run_remotely_is_refused_before_the_first(stack: SimUpProcess,
                                                                           tmp_path: Path) -> None:
    file = tmp_path / "refused.yaml"
    file.write_text(CANNOT_RUN_REMOTELY)
    scenario = load_scenario(file)

    with pytest.raises(ScenarioError, match=r"step 5 \(end_outage \(system=sumsub\)\).*hold"):
        await run_scenario(scenario, env_file=stack.env_file)

    status, output = await sim_run(file, "--env-file", stack.env_file, "--out", tmp_path, cwd=tmp_path)
    assert status == 2, output
    assert "step 5 (end_outage (system=sumsub))" in output
