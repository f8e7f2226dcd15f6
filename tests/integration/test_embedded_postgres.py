"""The embedded PostgreSQL: started on demand, shared, and able to start again after a crash."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import asyncpg
import psutil
import pytest

from service.db.embedded import start_embedded_postgres, stop_embedded_postgres


async def answers(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("SELECT 41 + 1"))
    finally:
        await connection.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "pgdata"


async def test_a_second_start_reuses_the_running_server(data_dir: Path) -> None:
    first = await asyncio.to_thread(start_embedded_postgres, data_dir)
    try:
        second = await asyncio.to_thread(start_embedded_postgres, data_dir)
        assert (second.pid, second.port) == (first.pid, first.port)
        assert await answers(first.url()) == 42
    finally:
        assert stop_embedded_postgres(data_dir)
    assert not stop_embedded_postgres(data_dir)


async def test_a_killed_server_leaves_a_data_directory_that_starts_again(data_dir: Path) -> None:
    crashed = await asyncio.to_thread(start_embedded_postgres, data_dir)
    os.kill(crashed.pid, signal.SIGKILL)
    await asyncio.to_thread(psutil.Process(crashed.pid).wait, 10)
    assert (data_dir / "postmaster.pid").exists()  # what a crash leaves behind
    try:
        again = await asyncio.to_thread(start_embedded_postgres, data_dir)
        assert again.pid != crashed.pid
        assert await answers(again.url()) == 42
    finally:
        stop_embedded_postgres(data_dir)


def test_the_default_data_directory_is_outside_the_working_tree() -> None:
    from service.db.embedded import default_data_dir

    assert Path.cwd() not in default_data_dir().parents
