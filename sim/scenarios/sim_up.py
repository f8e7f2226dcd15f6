"""``python -m sim up`` in a process of its own, for a scenario (or a notebook) to run against.

    up = await SimUpProcess.start(seed=31)
    run = await run_scenario(scenario, env_file=up.env_file)
    await up.stop()

The stack gets a database made for it (on ``DATABASE_URL``'s server, or the embedded PostgreSQL),
dropped when it stops; every port is chosen by the system.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

from service.db.engine import drop_database, ensure_database

__all__ = ["SimUpProcess"]

START_SECONDS = 90.0
STOP_SECONDS = 30.0


class SimUpProcess:
    def __init__(self, process: asyncio.subprocess.Process, directory: Path, database: tuple[str, str]) -> None:
        self.process = process
        self.directory = directory
        self.env_file = directory / "stack.env"
        self.log_file = directory / "sim-up.log"
        self._database = database

    @classmethod
    async def start(cls, *, seed: int = 0) -> SimUpProcess:
        from sim.scenarios.stacks import _embedded

        server = os.environ.get("DATABASE_URL") or (await _embedded()).url()
        name = f"simup_{os.getpid()}_{secrets.token_hex(3)}"
        url = await ensure_database(server, name)
        directory = Path(tempfile.mkdtemp(prefix="sim-up-"))
        with (directory / "sim-up.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sim", "up", "--env-file", str(directory / "stack.env"), "--seed", str(seed),
                "--any-ports", env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
                stdout=log, stderr=asyncio.subprocess.STDOUT)
        up = cls(process, directory, (url, name))
        deadline = time.monotonic() + START_SECONDS
        while not (up.env_file.exists() and "SMTP_API_URL" in up.env_file.read_text()):
            if process.returncode is not None or time.monotonic() > deadline:
                await up.stop()
                raise RuntimeError(f"python -m sim up did not start; its output:\n{up.output()[-2000:]}")
            await asyncio.sleep(0.1)
        return up

    def output(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    async def stop(self) -> None:
        """Interrupt it as Ctrl-C would, and wait; kill it if it does not stop in time."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        with contextlib.suppress(Exception):
            await drop_database(*self._database)
