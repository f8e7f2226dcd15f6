"""Servers the benchmarks run as processes of their own: started, awaited until ready, always stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import psutil

from bench.http_client import HttpConnection

__all__ = ["PROJECT_ROOT", "ManagedProcess", "base_environment", "cpu_seconds", "free_port", "managed_process"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STOP_GRACE_SECONDS = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int | None = None) -> float:
    """User plus system CPU time a process (by default this one) has used so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def base_environment(log_dir: Path) -> dict[str, str]:
    """The parent's environment without any service setting it may carry, and no dotenv file."""
    kept = {k: v for k, v in os.environ.items()
            if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "VIRTUAL_ENV", "EMBEDDED_POSTGRES_DIR"}}
    # settings fall back to ./.env for what the environment lacks: point that at nothing
    return {**kept, "ENV_FILE": str(log_dir / "no.env"), "PYTHONUNBUFFERED": "1"}


class ManagedProcess:
    def __init__(self, name: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def check_running(self) -> None:
        if self.process.returncode is not None:
            raise RuntimeError(f"{self.name} exited with code {self.process.returncode}; "
                               f"the end of {self.log_path}:\n{self.log_tail()}")

    async def wait_ready(self, port: int, path: str, within: float = 60.0) -> None:
        """Poll ``GET path`` on 127.0.0.1 until it answers 200; fail with the log's end otherwise."""
        deadline = time.monotonic() + within
        last = "no answer"
        while time.monotonic() < deadline:
            self.check_running()
            connection = HttpConnection("127.0.0.1", port)
            try:
                response = await asyncio.wait_for(connection.request("GET", path), timeout=5.0)
                if response.status == 200:
                    return
                last = f"{response.status} {response.body[:200]!r}"
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                last = type(exc).__name__
            finally:
                connection.close()
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {within:g}s (GET {path}: {last}); "
                           f"the end of {self.log_path}:\n{self.log_tail()}")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within the grace period."""
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def managed_process(name: str, args: list[str], env: Mapping[str, str],
                          log_dir: Path) -> AsyncIterator[ManagedProcess]:
    """``python <args>`` from the project root, its output in ``<log_dir>/<name>.log``; stopped on exit."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=PROJECT_ROOT, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=asyncio.subprocess.STDOUT,
        )
    managed = ManagedProcess(name, process, log_path)
    try:
        yield managed
    finally:
        await managed.stop()


@contextlib.asynccontextmanager
async def webhook_receivers(database_url: str, webhook_secret: str, log_dir: Path
                            ) -> AsyncIterator[tuple[dict[str, ManagedProcess], dict[str, int]]]:
    """The two receivers the webhook benchmarks compare, each a process of its own and ready: the service's
    API (``service``, on ``database_url``) and a bare Litestar route (``bare``, the baseline). Yields the
    processes and their ports by name."""
    ports = {"service": free_port(), "bare": free_port()}
    environment = base_environment(log_dir)
    service_environment = {
        **environment, "DATABASE_URL": database_url, "SUMSUB_WEBHOOK_SECRET": webhook_secret,
        # the production default: the one access-log line per request (``request``) is written, and costs
        # what it costs (to the process's log file, as a service's stderr goes to its log collector)
        "HOST": "127.0.0.1", "PORT": str(ports["service"]), "LOG_LEVEL": "INFO",
        "KEYCLOAK_URL": "http://127.0.0.1:9/",  # never asked: the webhook takes no token
    }
    bare_args = ["-m", "bench.bare_intake", "--host", "127.0.0.1", "--port", str(ports["bare"])]
    print("starting both receivers ...", file=sys.stderr, flush=True)
    async with (managed_process("service-api", ["-m", "service", "api"], service_environment, log_dir) as service,
                managed_process("bare-litestar", bare_args, environment, log_dir) as bare):
        processes = {"service": service, "bare": bare}
        await asyncio.gather(*(processes[name].wait_ready(ports[name], "/health/ready") for name in processes))
        yield processes, ports
