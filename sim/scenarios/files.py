"""Scenario files: YAML under ``fixtures/scenarios/``, read and written in the model's own words."""

from __future__ import annotations

from pathlib import Path

import yaml

from sim.scenarios.model import Scenario, ScenarioError

__all__ = ["SCENARIOS_DIR", "dump_scenario", "load_scenario", "scenario_files"]

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"


def load_scenario(path: str | Path) -> Scenario:
    """The scenario in ``path``; a bare name (``happy_path``) is looked up in ``fixtures/scenarios``."""
    file = Path(path)
    if not file.exists() and not file.suffix:
        file = SCENARIOS_DIR / f"{file}.yaml"
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{file}: not YAML: {exc}") from None
    try:
        return Scenario.from_data(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{file}: {exc}") from None


def dump_scenario(scenario: Scenario, path: str | Path, *, comment: str = "") -> Path:
    file = Path(path)
    text = yaml.safe_dump(scenario.to_data(), sort_keys=False, default_flow_style=None, width=110)
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    file.write_text(header + text)
    return file


def scenario_files(directory: Path = SCENARIOS_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))
