"""Scenarios: business-language steps and expectations (``model``), as YAML files (``files``), run
against a sandbox or a running stack (``runner``), and what a run did on one timeline (``timeline``).

    from sim.scenarios import load_scenario, run_scenario
    run = await run_scenario(load_scenario("01_happy_path"))
    run.passed, run.summary(), run.timeline, run.plot()
"""

from sim.scenarios.files import SCENARIOS_DIR, dump_scenario, load_scenario, scenario_files
from sim.scenarios.model import Expectation, Scenario, ScenarioError, Step
from sim.scenarios.runner import ScenarioRun, run_scenario
from sim.scenarios.timeline import Timeline, TimelineEvent

__all__ = [
    "SCENARIOS_DIR",
    "Expectation",
    "Scenario",
    "ScenarioError",
    "ScenarioRun",
    "Step",
    "Timeline",
    "TimelineEvent",
    "dump_scenario",
    "load_scenario",
    "run_scenario",
    "scenario_files",
]
