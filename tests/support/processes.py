"""The service in processes of its own (``python -m service api`` and ``worker``), started and stopped
by tests that need more than one of each or need to kill one.

Every process gets the same environment, writes its output to a file of its own, and is stopped
(SIGTERM, then SIGKILL after a deadline) when the ``ServiceProcesses`` block ends, whatever happened.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from tests.support.waiting import eventually

__all__ = ["ServiceProcess", "ServiceProcesses", "free_port"]

REPOSITORY = Path(__file__).resolve().parents[2]
LOG_TAIL = 4000


def free_port() -> int:
    """A TCP port nothing listens on now (the system picks it; a race with other programs is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServiceProcess:
    name: str
    popen: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path
    url: str = ""

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self) -> str:
        return self.log()[-LOG_TAIL:]

    async def _exited_within(self, seconds: float) -> bool:
        try:
            await asyncio.to_thread(self.popen.wait, seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    async def kill(self) -> None:
        """SIGKILL: the process dies at once, in the middle of whatever it does."""
        if self.running:
            self.popen.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.popen.wait)

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM and a graceful shutdown; SIGKILL when it takes longer than ``grace`` seconds."""
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
            if await self._exited_within(grace):
                return
        await self.kill()


class ServiceProcesses:
    """Starts API and worker processes with one environment (on top of this process's own)."""

    def __init__(self, directory: Path, environment: Mapping[str, str]) -> None:
        self.directory = directory
        self.environment = {
            **os.environ,
            **environment,
            # only what is given here configures the service, never a dotenv file in the working directory
            "ENV_FILE": os.devnull,
            "PYTHONUNBUFFERED": "1",
        }
        self.started: list[ServiceProcess] = []

    def _spawn(self, name: str, command: str, extra: Mapping[str, str]) -> ServiceProcess:
        log_path = self.directory / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
                [sys.executable, "-m", "service", command],
                cwd=REPOSITORY,
                env={**self.environment, **extra},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for pytest is not theirs; teardown stops them
            )
        process = ServiceProcess(name, popen, log_path)
        self.started.append(process)
        return process

    async def start_api(self, name: str, *, port: int | None = None, ready_timeout: float = 30.0) -> ServiceProcess:
        """An API process on ``port`` (any free one by default), returned once ``/health/ready`` answers 200."""
        port = port or free_port()
        process = self._spawn(name, "api", {"HOST": "127.0.0.1", "PORT": str(port)})
        process.url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=process.url, timeout=5) as http:

            async def readiness() -> int | None:
                if not process.running:
                    raise AssertionError(f"{name} exited with {process.popen.returncode}:\n{process.log_tail()}")
                try:
                    return (await http.get("/health/ready")).status_code
                except httpx.TransportError:
                    return None

            await eventually(readiness, until=lambda status: status == 200, timeout=ready_timeout,
                             what=f"{name} ready at {process.url}")
        return process

    def start_worker(self, name: str, **extra: str) -> ServiceProcess:
        """A worker process; it proves itself by the jobs it runs."""
        return self._spawn(name, "worker", extra)

    async def stop_all(self) -> None:
        await asyncio.gather(*(process.stop() for process in self.started), return_exceptions=True)

    async def __aenter__(self) -> ServiceProcesses:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop_all()
