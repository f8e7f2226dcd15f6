"""The whole onboarding stack in one process: the fakes, PostgreSQL, the API and a worker.

    async with Sandbox(seed=7) as stack:
        token = await stack.operator_token()
        ...

``python -m sim up`` runs the same thing until interrupted and writes the facts a client needs
(URLs, realms, client ids, credentials) to a dotenv file.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import msgspec
from saq import Worker

from service.app import create_app
from service.db.embedded import start_embedded_postgres
from service.db.engine import drop_database, ensure_database, migrate
from service.settings import Settings, load_settings
from service.worker import build_worker
from sim.clock import VirtualClock
from sim.keycloak import KeycloakFake
from sim.network import WebhookNetwork
from sim.seed import Seed
from sim.servers import RunningServer, serve_asgi
from sim.smtp import SmtpFake
from sim.sumsub import SumsubFake

__all__ = ["DEFAULT_PORTS", "SANDBOX_DATABASE", "Sandbox"]

SANDBOX_DATABASE = "sandbox"

DEFAULT_PORTS = {"service": 8000, "keycloak": 8080, "sumsub": 8081, "smtp": 1025, "smtp_api": 8025}


def _port_or_free(preferred: int | None) -> int:
    """The preferred port when it is free, else 0 (the system picks one)."""
    if not preferred:
        return 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return 0
            raise
    return preferred


class Sandbox:
    """Fakes on real sockets, the service wired to them, and its worker, sharing one clock and seed.

    ``database_url`` defaults to ``DATABASE_URL`` or, without it, the embedded PostgreSQL.
    ``ports`` maps ``service``/``keycloak`` to preferred ports (taken when free; 0 for any).
    """

    def __init__(self, *, seed: int = 0, database_url: str | None = None, queue_url: str | None = None,
                 ports: dict[str, int] | None = None, database_name: str = SANDBOX_DATABASE,
                 queue_name: str | None = None, run_service: bool = True) -> None:
        self.seed = Seed(seed)
        # The service checks token lifetimes against the wall clock: the sandbox's clock follows it.
        self.clock = VirtualClock.wall()
        self.keycloak = KeycloakFake.with_defaults(self.clock, self.seed)
        self.network = WebhookNetwork(self.clock, self.seed)
        self.sumsub = SumsubFake(
            self.clock, self.seed, app_token="sbx:" + self.seed.token("sumsub.credentials", 24),
            secret_key=self.seed.token("sumsub.credentials", 32),
            webhook_secret=self.seed.token("sumsub.credentials", 32), network=self.network,
        )
        self._database_url = database_url or os.environ.get("DATABASE_URL")
        self._queue_url = queue_url or os.environ.get("QUEUE_URL")
        self._database_name = database_name
        self._queue_name = queue_name or os.environ.get("QUEUE_NAME", "onboarding")
        self._run_service = run_service
        self._ports = {**DEFAULT_PORTS, **(ports or {})}
        self.smtp = SmtpFake(self.clock, self.seed, port=_port_or_free(self._ports["smtp"]))
        self._servers: list[RunningServer] = []
        self._worker_task: asyncio.Task[None] | None = None
        self._worker: Worker | None = None
        self.settings: Settings | None = None
        self.service_url = ""
        self.keycloak_url = ""
        self.sumsub_url = ""
        self.smtp_api_url = ""
        self.database_url = ""

    # lifecycle
    async def __aenter__(self) -> Sandbox:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        self.clock.start()
        keycloak = await serve_asgi(self.keycloak.app, port=_port_or_free(self._ports["keycloak"]))
        self._servers.append(keycloak)
        self.keycloak_url = keycloak.url + "/"
        self.keycloak.base_url = self.keycloak_url
        await self.smtp.start()
        self.keycloak.smtp_host, self.keycloak.smtp_port = self.smtp.host, self.smtp.port
        smtp_api = await serve_asgi(self.smtp.api_app, port=_port_or_free(self._ports["smtp_api"]))
        self._servers.append(smtp_api)
        self.smtp_api_url = smtp_api.url
        sumsub = await serve_asgi(self.sumsub.app, port=_port_or_free(self._ports["sumsub"]))
        self._servers.append(sumsub)
        self.sumsub_url = sumsub.url

        if self._database_url:
            self.database_url = self._database_url
        else:
            # the fakes start empty, so the sandbox's own database does too: no customer whose Keycloak
            # user or Sumsub applicant vanished with the last run
            server = await asyncio.to_thread(start_embedded_postgres)
            await drop_database(server.url(), self._database_name)
            self.database_url = await ensure_database(server.url(), self._database_name)
        await migrate(self.database_url)

        self.settings = load_settings(
            {},
            database_url=self.database_url,
            queue_url=self._queue_url,
            queue_name=self._queue_name,
            keycloak_url=self.keycloak_url,
            keycloak_admin_realm=self.keycloak.admin_realm,
            keycloak_customer_realm=self.keycloak.customer_realm,
            keycloak_client_id=self.keycloak.service_client_id,
            keycloak_client_secret=self.keycloak.service_client_secret,
            sumsub_url=self.sumsub_url,
            sumsub_app_token=self.sumsub.app_token,
            sumsub_secret_key=self.sumsub.secret_key,
            sumsub_webhook_secret=self.sumsub.webhook_secret,
            smtp_host=self.smtp.host,
            smtp_port=self.smtp.port,
            # a quick ladder: a sandbox shows retries in seconds, not hours
            job_backoff_base_seconds=0.5,
            job_backoff_max_seconds=10.0,
            outbox_poll_seconds=1.0,
            log_level=os.environ.get("LOG_LEVEL", "INFO"),  # a notebook quiets the service with LOG_LEVEL
        )
        if not self._run_service:
            return  # the caller runs the service (in processes of its own) and calls attach_service
        service = await serve_asgi(create_app(self.settings, migrate_on_start=False),
                                   port=_port_or_free(self._ports["service"]))
        self._servers.append(service)
        self.attach_service(service.url)
        self._worker = build_worker(self.settings, self.database_url, handle_signals=False)
        await self._worker.queue.connect()
        self._worker_task = asyncio.create_task(self._worker.start(), name="sandbox-worker")

    def attach_service(self, service_url: str) -> None:
        """Point the fakes at the service (Sumsub's webhooks) and the service's links at itself."""
        assert self.settings is not None
        self.service_url = service_url
        self.settings = msgspec.structs.replace(self.settings, portal_url=f"{service_url}/portal/me")
        self.sumsub.configure_webhook(f"{service_url}/webhooks/sumsub")

    def service_environment(self) -> dict[str, str]:
        """The service's settings as environment variables, for API and worker processes of its own."""
        assert self.settings is not None
        env: dict[str, str] = {}
        for name, value in msgspec.structs.asdict(self.settings).items():
            if value is None:
                continue
            env[name.upper()] = msgspec.json.encode(value).decode() if isinstance(value, dict) else str(value)
        return env

    async def stop(self) -> None:
        if self._worker is not None:
            await self._worker.stop()
            if self._worker_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._worker_task
            await self._worker.queue.disconnect()
            self._worker = None
        for server in reversed(self._servers):
            await server.stop()
        self._servers.clear()
        if self.smtp.running:
            await self.smtp.stop()
        await self.sumsub.aclose()
        await self.clock.stop()

    # facts
    @property
    def env(self) -> dict[str, str]:
        """What a client of the stack needs, under the names of the contract's env file."""
        kc = self.keycloak
        env = {
            "SERVICE_URL": self.service_url,
            "DATABASE_URL": self.database_url,
            "KEYCLOAK_URL": self.keycloak_url,
            "KEYCLOAK_ADMIN_REALM": kc.admin_realm,
            "KEYCLOAK_CUSTOMER_REALM": kc.customer_realm,
            "KEYCLOAK_CLIENT_ID": kc.service_client_id,
            "KEYCLOAK_CLIENT_SECRET": kc.service_client_secret,
            "OPERATOR_CLIENT_ID": kc.operator_client_id,
            "OPERATOR_USERNAME": kc.operator_username,
            "OPERATOR_PASSWORD": kc.operator_password,
            "PORTAL_CLIENT_ID": kc.portal_client_id,
            "SUMSUB_URL": self.sumsub_url,
            "SUMSUB_APP_TOKEN": self.sumsub.app_token,
            "SUMSUB_SECRET_KEY": self.sumsub.secret_key,
            "SUMSUB_WEBHOOK_SECRET": self.sumsub.webhook_secret,
            "SMTP_HOST": self.smtp.host,
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_API_URL": self.smtp_api_url,
        }
        if self._queue_url:
            env["QUEUE_URL"] = self._queue_url
        return env

    def write_env_file(self, path: Path) -> None:
        lines = ["# The sandbox stack (python -m sim up). Secrets here are the fakes' own, made from the seed."]
        lines += [f"{key}={value}" for key, value in self.env.items()]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)

    # conveniences for notebooks and tests
    async def operator_token(self) -> str:
        """A token for the seeded operator, by the password grant, as the admin panel would get one."""
        kc = self.keycloak
        async with httpx.AsyncClient(base_url=self.keycloak_url) as http:
            response = await http.post(
                f"realms/{kc.admin_realm}/protocol/openid-connect/token",
                data={"grant_type": "password", "client_id": kc.operator_client_id,
                      "username": kc.operator_username, "password": kc.operator_password},
            )
        response.raise_for_status()
        return str(response.json()["access_token"])

    async def api(self, token: str | None = None) -> httpx.AsyncClient:
        """An HTTP client for the service, authenticated as the operator unless a token is given."""
        token = token or await self.operator_token()
        return httpx.AsyncClient(base_url=self.service_url, headers={"Authorization": f"Bearer {token}"})

    def describe(self) -> dict[str, Any]:
        return {"seed": self.seed.value, **self.env}
