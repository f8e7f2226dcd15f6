"""The QA notebooks run top to bottom and say what they promise: each its verdict, its tables as
DataFrames, its timeline and a picture, and no log chatter in the cells."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from tests.support.databases import server_url

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
CELL_TIMEOUT_SECONDS = 300
# a log line of the service or a library, as configure_logging or the standard library prints it
LOG_LINE = re.compile(r"^\S+Z \[(debug|info|warning)\s*\]|^(DEBUG|INFO|WARNING):", re.MULTILINE)

# a notebook starts a kernel and a whole sandbox: more than the suite's default of 120 s in all
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def kernel_of_this_python() -> AsyncKernelManager:
    """The ``python3`` kernel on the interpreter running the tests, whatever kernels are installed
    elsewhere: with no kernel directories to search, the spec is ipykernel's own, on ``sys.executable``."""
    manager = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    assert manager.kernel_spec is not None
    assert manager.kernel_spec.argv[0] == sys.executable
    return manager


async def run_notebook(name: str) -> nbformat.NotebookNode:
    """Execute the notebook; each sandbox in it makes its own database on ``DATABASE_URL``'s server."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(notebook, km=kernel_of_this_python(), kernel_name="python3",
                            timeout=CELL_TIMEOUT_SECONDS, resources={"metadata": {"path": str(REPO_ROOT)}})
    # the client shuts down a kernel it was handed only when told to
    await client.async_execute(cleanup_kc=True, env={**os.environ, "DATABASE_URL": await server_url()})
    return notebook


def cell(notebook: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    cells = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def output_of(notebook: nbformat.NotebookNode, tag: str, kind: str = "text/plain") -> str:
    """What the one cell tagged ``tag`` printed and showed, as ``kind`` (text by default)."""
    texts = []
    for output in cell(notebook, tag).outputs:
        if output.output_type == "stream" and kind == "text/plain":
            texts.append(output.text)
        elif output.output_type in {"execute_result", "display_data"}:
            texts.append(str(output.data.get(kind, "")))
    return "".join(texts)


def assert_a_good_notebook(notebook: nbformat.NotebookNode) -> None:
    """It passed, shows a DataFrame, its timeline and a picture, and no log line."""
    assert re.search(r"\): passed in ", output_of(notebook, "verdict")), output_of(notebook, "verdict")
    assert "<table" in output_of(notebook, "summary", "text/html")  # a DataFrame, as a table
    assert 'class="sim-timeline"' in output_of(notebook, "timeline", "text/html")
    assert output_of(notebook, "picture", "image/png")
    for each in notebook.cells:
        for output in each.get("outputs", []):
            text = output.get("text", "") if output.output_type == "stream" else ""
            assert not LOG_LINE.search(text), f"log chatter in a cell: {text[:500]}"


def test_the_notebooks_are_eight_and_saved_without_outputs() -> None:
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert [p.name[:2] for p in paths] == [f"{i:02d}" for i in range(1, 9)]
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name == "python3", path.name
        for each in notebook.cells:
            if each.cell_type == "code":
                assert (each.outputs, each.execution_count) == ([], None), f"{path.name}: {each.id} has outputs"


async def test_the_happy_path_ends_with_an_active_customer_in_the_portal() -> None:
    notebook = await run_notebook("01_happy_path.ipynb")

    assert "passed" in output_of(notebook, "verdict")
    summary = output_of(notebook, "customer-active")
    assert re.search(r"ada\s+C\d+\s+individual\s+approved\s+active", summary), summary
    assert "<table" in output_of(notebook, "customer-active", "text/html")
    portal = output_of(notebook, "portal-me")
    assert re.search(r"customer: \S+ active", portal), portal
    assert "balance:  10000 USD" in portal
    assert 'class="sim-timeline"' in output_of(notebook, "timeline", "text/html")
    assert output_of(notebook, "picture", "image/png")


@pytest.mark.parametrize("name", ["02_company_kyb.ipynb", "03_retry_then_approved.ipynb", "04_rejected_final.ipynb",
                                  "05_callback_storm.ipynb"])
async def test_a_lifecycle_notebook_passes_and_shows_its_timeline(name: str) -> None:
    assert_a_good_notebook(await run_notebook(name))


async def test_outages_are_ridden_out_with_retries_on_the_record() -> None:
    notebook = await run_notebook("06_outages.ipynb")

    assert_a_good_notebook(notebook)
    steps = output_of(notebook, "provisioning")
    assert re.search(r"keycloak_user\s+done\s+([2-9]|\d\d+)\s", steps), steps
    assert re.search(r"welcome_email\s+done\s+([2-9]|\d\d+)\s", steps), steps


async def test_bulk_onboarding_makes_two_hundred_customers_active_once_each() -> None:
    notebook = await run_notebook("07_bulk_onboarding.ipynb")

    assert_a_good_notebook(notebook)
    summary = output_of(notebook, "bulk-summary")
    assert re.search(r"approved\s+active\s+1\s+1\s+1\s+200", summary), summary
    assert re.search(r"100%\|.*\| (\d+)/\1 ", output_of(notebook, "verdict"))  # the progress bar, to the end


async def test_the_same_file_runs_against_a_stack_started_with_sim_up() -> None:
    notebook = await run_notebook("08_against_a_running_stack.ipynb")

    assert_a_good_notebook(notebook)
