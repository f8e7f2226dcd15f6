"""How a server process runs: it settles Python's collector once it has started (a host program never
does), and its worker's idle slots stop waiting by themselves."""

from __future__ import annotations

import gc
import subprocess
import sys

from service.runtime import YOUNG_GENERATION_THRESHOLD
from service.settings import load_settings
from service.worker import build_worker

SHOW = "import gc; print(gc.get_threshold()[0], gc.get_freeze_count() > 0)"


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)  # noqa: S603 - our own code
    return done.stdout.strip()


def test_a_settled_process_has_frozen_what_it_started_with_and_collects_young_objects_less_often() -> None:
    assert run(f"from service.runtime import settle_after_start; settle_after_start(); {SHOW}") == (
        f"{YOUNG_GENERATION_THRESHOLD} True")


def test_the_app_and_the_worker_built_by_a_host_program_leave_its_collector_alone() -> None:
    # what the sandbox and the tests build: importing and building changes nothing until an entry point asks
    assert run(f"import service.app, service.worker; {SHOW}") == f"{gc.get_threshold()[0]} False"


def test_a_workers_idle_slots_stop_waiting_by_themselves() -> None:
    # SAQ's default (0) waits for a job for ever, and a stop whose cancellation Python 3.11's wait_for
    # swallowed then never ended (a sandbox's Ctrl-C hung about one time in ten, before this)
    worker = build_worker(load_settings({}, database_url="postgresql://nobody@127.0.0.1:9/none"),
                          "postgresql://nobody@127.0.0.1:9/none", handle_signals=False)
    assert 0 < worker.dequeue_timeout <= 5
