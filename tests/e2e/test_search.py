"""A short property search on every change: the contract's rules hold under the network's and the
systems' faults, as far as a few examples go."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.scenarios.search import search

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_a_short_search_breaks_no_rule(tmp_path: Path) -> None:
    found = search(examples=6, seed=0, out=tmp_path)
    assert found is None, found.read_text() if found else ""
    assert list(tmp_path.iterdir()) == []
