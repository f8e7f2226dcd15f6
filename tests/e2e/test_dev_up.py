"""``python3 dev.py up`` as a person or a process manager runs it: SIGTERM stops the whole stack."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from service.settings import read_dotenv
from tests.support.databases import scratch_database
from tests.support.waiting import eventually

REPOSITORY = Path(__file__).resolve().parents[2]


async def test_sigterm_to_dev_up_stops_the_whole_stack(tmp_path: Path) -> None:
    env_file, log_file = tmp_path / "stack.env", tmp_path / "dev-up.log"
    async with scratch_database("devup") as database_url:
        with log_file.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(REPOSITORY / "dev.py"), "up", "--env-file", str(env_file), "--any-ports",
                cwd=REPOSITORY, env={**os.environ, "DATABASE_URL": database_url},
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )
        try:
            async def written() -> bool:
                return env_file.exists() and "SMTP_API_URL" in env_file.read_text()
            await eventually(written, timeout=90, what=f"the env file written ({log_file})")
            service = read_dotenv(env_file)["SERVICE_URL"]
            async with httpx.AsyncClient(timeout=5) as http:
                assert (await http.get(f"{service}/health/live")).status_code == 200
            process.send_signal(signal.SIGTERM)  # what systemd, docker stop or a CI runner sends
            await asyncio.wait_for(process.wait(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()  # never leave a whole stack running behind a failed test
                await process.wait()
        assert process.returncode == 0, log_file.read_text()[-2000:]
        async with httpx.AsyncClient(timeout=2) as http:
            try:
                await http.get(f"{service}/health/live")
                raise AssertionError("the service still answers after dev.py up was terminated")
            except httpx.TransportError:
                pass
