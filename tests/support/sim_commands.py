"""``python -m sim ...`` as a person runs it: a process of its own with its output in a file, stopped
with Ctrl-C (SIGINT) and, past a deadline, killed, whatever happened in the test."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.waiting import eventually

__all__ = ["SimCommand", "sim_command"]


@dataclass
class SimCommand:
    process: asyncio.subprocess.Process
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_for_output(self, text: str, timeout: float = 90) -> str:
        async def seen() -> bool:
            if self.process.returncode is not None:
                raise AssertionError(f"exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            return text in self.output()

        await eventually(seen, timeout=timeout, what=f"{text!r} in {self.log_path}")
        return self.output()

    def fact(self, key: str) -> str:
        """A value from the facts it printed (``  KEY  value``)."""
        for line in self.output().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == key:
                return parts[1]
        raise AssertionError(f"{key} not printed:\n{self.output()[-3000:]}")

    async def interrupt(self, timeout: float = 30) -> int:
        """Ctrl-C, then its exit status (killed, and an AssertionError, if it does not stop in time)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"did not stop on Ctrl-C:\n{self.output()[-3000:]}") from None


@asynccontextmanager
async def sim_command(log_path: Path, *args: str, env: Mapping[str, str] | None = None) -> AsyncIterator[SimCommand]:
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sim", *args, env={**os.environ, "ENV_FILE": os.devnull, **(env or {})},
            stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    command = SimCommand(process, log_path)
    try:
        yield command
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()  # never leave a stack or a fake running behind a failed test
                await process.wait()
