"""The QA notebooks run top to bottom, each against a scratch database, and say what they promise."""

from __future__ import annotations

import os
import re
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from tests.support.databases import scratch_database

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
CELL_TIMEOUT_SECONDS = 120

# a notebook starts a kernel and a whole sandbox: more than the suite's default of 120 s in all
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def kernel_of_this_python() -> AsyncKernelManager:
    """The ``python3`` kernel on the interpreter running the tests, whatever kernels are installed
    elsewhere: with no kernel directories to search, the spec is ipykernel's own, on ``sys.executable``."""
    manager = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    assert manager.kernel_spec is not None
    assert manager.kernel_spec.argv[0] == sys.executable
    return manager


async def run_notebook(name: str) -> nbformat.NotebookNode:
    """Execute the notebook; the sandbox in it finds its database in ``DATABASE_URL`` (``QUEUE_URL`` passes on)."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    async with scratch_database("nb") as database_url:
        client = NotebookClient(notebook, km=kernel_of_this_python(), kernel_name="python3",
                                timeout=CELL_TIMEOUT_SECONDS, resources={"metadata": {"path": str(REPO_ROOT)}})
        # the client shuts down a kernel it was handed only when told to
        await client.async_execute(cleanup_kc=True, env={**os.environ, "DATABASE_URL": database_url,
                                                                "QUEUE_NAME": f"nb-{uuid.uuid4().hex[:8]}"})
    return notebook


def output_of(notebook: nbformat.NotebookNode, tag: str) -> str:
    """What the one cell tagged ``tag`` printed and showed, as text."""
    cells = [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
    assert len(cells) == 1, f"one cell tagged {tag!r}, found {len(cells)}"
    texts = []
    for output in cells[0].outputs:
        if output.output_type == "stream":
            texts.append(output.text)
        elif output.output_type in {"execute_result", "display_data"}:
            texts.append(output.data.get("text/plain", ""))
    return "".join(texts)


def test_the_notebooks_are_saved_without_outputs() -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name == "python3", path.name
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert (cell.outputs, cell.execution_count) == ([], None), f"{path.name}: {cell.id} has outputs"


async def test_the_happy_path_ends_with_an_active_customer_in_the_portal() -> None:
    notebook = await run_notebook("01_happy_path.ipynb")

    active = output_of(notebook, "customer-active")
    assert "activity_status: active" in active
    found = re.search(r"^customer: (\S+)$", active, re.MULTILINE)
    assert found, active
    customer_id = found.group(1)
    assert customer_id in output_of(notebook, "portal-me")
    account = output_of(notebook, "deposit-account")
    assert "'currency': 'USD'" in account
    assert "'balance_cents': 0" in account


async def test_out_of_order_webhooks_and_a_keycloak_outage_still_end_active() -> None:
    notebook = await run_notebook("02_out_of_order_webhooks.ipynb")

    # rows of the service's callback table: received at, type, …, status (the service's logs may interleave)
    callbacks = re.findall(r"^\S+Z\s+applicant\w+\s.*$", output_of(notebook, "callbacks"), re.MULTILINE)
    assert len(callbacks) == 5, callbacks
    assert all(re.search(r"\s(processed|ignored)\s*$", line) for line in callbacks), callbacks
    active = output_of(notebook, "customer-active")
    assert "kyc_status: approved" in active
    assert "activity_status: active" in active
    ridden_out = output_of(notebook, "outage-ridden-out")
    assert "activity_status: active" in ridden_out
    assert re.search(r"keycloak_user\s+done\s+([2-9]|\d\d+)\s", ridden_out), ridden_out
