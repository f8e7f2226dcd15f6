"""The embedded PostgreSQL: started on demand, shared, and able to start again after a crash."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psutil
import psycopg
import pytest

from service.db.embedded import start_embedded_postgres, stop_embedded_postgres


async def answers(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as connection:
        row = await (await connection.execute("SELECT 41 + 1")).fetchone()
    assert row is not None
    return int(row[0])


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


async def fsync_setting(url: str) -> str:
    async with await psycopg.AsyncConnection.connect(url) as connection:
        row = await (await connection.execute("SHOW fsync")).fetchone()
    assert row is not None
    return str(row[0])


async def test_the_service_s_server_keeps_fsync_on_and_a_scratch_one_turns_it_off(tmp_path: Path) -> None:
    durable, scratch = tmp_path / "durable", tmp_path / "scratch"
    try:
        service_server = await asyncio.to_thread(start_embedded_postgres, durable)
        assert service_server.durable
        assert await fsync_setting(service_server.url()) == "on"
        test_server = await asyncio.to_thread(start_embedded_postgres, scratch, durable=False)
        assert not test_server.durable
        assert await fsync_setting(test_server.url()) == "off"
    finally:
        stop_embedded_postgres(durable)
        stop_embedded_postgres(scratch)


async def test_a_server_left_running_without_fsync_is_restarted_with_it_for_the_service(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    try:
        unsafe = await asyncio.to_thread(start_embedded_postgres, data_dir, durable=False)
        durable = await asyncio.to_thread(start_embedded_postgres, data_dir)
        assert durable.pid != unsafe.pid
        assert await fsync_setting(durable.url()) == "on"
    finally:
        stop_embedded_postgres(data_dir)


def test_the_service_and_the_tests_never_share_a_data_directory() -> None:
    from service.db.embedded import default_data_dir, scratch_data_dir

    assert default_data_dir() != scratch_data_dir()


async def test_the_service_on_the_embedded_database_says_so_once_with_its_data_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from structlog.testing import capture_logs

    from service.db.engine import resolve_database_url
    from service.settings import load_settings

    data_dir = tmp_path / "service-pgdata"
    monkeypatch.setenv("EMBEDDED_POSTGRES_DIR", str(data_dir))
    try:
        with capture_logs() as logs:
            url, embedded = await resolve_database_url(load_settings({}))
        assert embedded
        assert await answers(url) == 42
        said = [entry for entry in logs if entry["event"] == "database.embedded"]
        assert len(said) == 1
        assert (said[0]["data_dir"], said[0]["fsync"]) == (str(data_dir), True)
    finally:
        stop_embedded_postgres(data_dir)
