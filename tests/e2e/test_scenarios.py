"""Scenario files run against fresh sandboxes: they pass, they replay id for id, and a failure leaves a
file that fails again on replay."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from sim.scenarios import Scenario, load_scenario, run_scenario, scenario_files
from tests.support.databases import server_url

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def files_the_notebooks_run() -> set[str]:
    names = set()
    for path in (REPO_ROOT / "notebooks").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            names.update(re.findall(r'load_scenario\("([^"]+)"\)', cell.source))
    return names


def test_every_scenario_file_is_run_by_a_notebook_or_here() -> None:
    run_here = {"09_lost_and_late_callbacks", "10_deactivated"}
    assert {file.stem for file in scenario_files()} == files_the_notebooks_run() | run_here


@pytest.mark.parametrize("name", ["09_lost_and_late_callbacks", "10_deactivated"])
async def test_a_scenario_file_the_notebooks_do_not_run_passes(name: str) -> None:
    run = await run_scenario(load_scenario(name))
    assert run.passed, run.report()


def two_customers_through_the_network_and_an_outage(seed: int) -> Scenario:
    return (Scenario.build("replayed", seed=seed)
            .create("ada").create("bob", "bank")
            .duplicate("ada", copies=2, count=2).hold("bob")
            .start_kyc("ada").start_kyc("bob").submit_documents("ada").submit_documents("bob")
            .review("ada", "RED", reject_type="RETRY", labels=["SCREENSHOTS"]).resubmit("ada")
            .review("bob", "GREEN").wait("bob", held=3).release("random")
            .wait("bob", activity_status="active")
            .outage("keycloak", 120).review("ada", "GREEN")
            .wait("ada", failed_step="keycloak_user").advance_clock(120)
            .wait("ada", activity_status="active")
            .expect("ada", activity_status="active", users=1, emails=1, accounts=1)
            .expect("bob", activity_status="active", users=1, emails=1, accounts=1))


async def test_the_same_seed_and_file_give_the_same_journal_id_for_id() -> None:
    first = await run_scenario(two_customers_through_the_network_and_an_outage(5))
    again = await run_scenario(two_customers_through_the_network_and_an_outage(5))
    other = await run_scenario(two_customers_through_the_network_and_an_outage(6))

    for run in (first, again, other):
        assert run.passed, run.report()
    assert first.fingerprint() == again.fingerprint()
    ids = re.compile(r'"(id|applicant|delivery|message)": "([^"]+)"')
    first_ids = {m.group(2) for line in first.fingerprint() for m in ids.finditer(line)}
    assert any(first.customers["ada"].applicant_id[8:] in line for line in first.fingerprint())
    assert len(first_ids) > 20  # applicants, deliveries, network messages, Keycloak users, emails
    assert other.fingerprint() != first.fingerprint()  # another seed, other ids


async def _sim(*args: str, cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "DATABASE_URL": await server_url()})
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_a_failed_run_exits_non_zero_and_leaves_a_file_that_fails_on_replay(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text((REPO_ROOT / "fixtures/scenarios/04_rejected_final.yaml").read_text()
                     .replace("activity_status: inactive", "activity_status: active")
                     .replace("seed: 17\n", "seed: 17\ntimeout: 5\n"))  # it cannot hold: no need to wait long

    status, output = await _sim("run", str(wrong), "--seed", "99", "--out", str(tmp_path / "failed"),
                                "--timeline", str(tmp_path / "timeline.html"), cwd=tmp_path)
    assert status == 1, output
    assert "FAILED" in output, output
    assert "seed 99" in output, output
    reproduction = tmp_path / "failed" / "wrong.seed99.yaml"
    assert load_scenario(reproduction).seed == 99
    assert "sim-timeline" in (tmp_path / "timeline.html").read_text()

    status, output = await _sim("replay", str(reproduction), cwd=tmp_path)
    assert status == 1, output
    assert "rejected FINAL (seed 99): FAILED" in output, output

    status, output = await _sim("run", str(REPO_ROOT / "fixtures/scenarios/04_rejected_final.yaml"), cwd=tmp_path)
    assert status == 0, output
