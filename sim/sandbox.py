"""The whole onboarding stack in one process: the fakes, PostgreSQL, the API and a worker.

    async with Sandbox(seed=7) as stack:
        token = await stack.operator_token()
        ...

``python -m sim up`` runs the same thing until interrupted and writes the facts a client needs
(URLs, realms, client ids, credentials) to a dotenv file.

Sandboxes live side by side: each has a name (given, or a fresh random one), and from it its own
database (``sandbox_<name>``, created new and dropped on a clean stop) and its own queue name, so
two stacks on one machine, or a notebook beside ``dev.py up``, never share data or jobs. A port that
is taken moves to a free one; ``port_moves`` says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import msgspec
import psycopg
import structlog
from saq import Worker

from service.app import create_app
from service.clock import use_clock
from service.db.embedded import start_embedded_postgres
from service.db.engine import migrate
from service.settings import Settings, load_settings
from service.worker import build_worker
from sim.clock import VirtualClock
from sim.databases import DatabaseExists, create_new_database, drop_database
from sim.env_file import HEADER
from sim.keycloak import KeycloakFake
from sim.network import WebhookNetwork
from sim.seed import Seed
from sim.servers import RunningServer, serve_asgi
from sim.smtp import SmtpFake
from sim.sumsub import SumsubFake

__all__ = ["DATABASE_PREFIX", "DEFAULT_PORTS", "PortMove", "Sandbox", "SandboxNameTaken", "new_sandbox_name"]

log = structlog.get_logger(__name__)

DEFAULT_PORTS = {"service": 8000, "keycloak": 8080, "sumsub": 8081, "smtp": 1025, "smtp_api": 8025}

# Every database a sandbox creates carries this prefix, so no name given to a sandbox can ever be
# the service's own embedded database (``onboarding``) or any other that a person made.
DATABASE_PREFIX = "sandbox_"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")


class SandboxNameTaken(RuntimeError):
    pass


def new_sandbox_name() -> str:
    # From the system, not the seed: two stacks run with the same seed must still get two names.
    return secrets.token_hex(4)


@dataclass(frozen=True)
class PortMove:
    """A preferred port that was taken, and where the component listens instead."""

    component: str
    wanted: int
    port: int

    def __str__(self) -> str:
        return f"port {self.wanted} is taken: {self.component} listens on {self.port} instead"


class Sandbox:
    """Fakes on real sockets, the service wired to them, and its worker, sharing one clock and seed.

    ``name`` (lower-case letters, digits, ``_``; random when not given) names the sandbox's own
    database, ``sandbox_<name>``, created on the server of ``DATABASE_URL`` (or the embedded
    PostgreSQL) and dropped on stop; and its queue. ``database_url`` instead names a database the
    caller owns: used as it is, never created or dropped. ``ports`` maps components (``service``,
    ``keycloak``, ``sumsub``, ``smtp``, ``smtp_api``) to preferred ports, 0 for any.
    """

    def __init__(self, *, seed: int = 0, name: str | None = None, database_url: str | None = None,
                 queue_url: str | None = None, ports: dict[str, int] | None = None,
                 queue_name: str | None = None, run_service: bool = True) -> None:
        if name is not None and not _NAME.match(name):
            raise ValueError(f"a sandbox name is 1-40 lower-case letters, digits and _, starting with a letter or "
                             f"digit: {name!r}")
        self.name = name or new_sandbox_name()
        self.database_name = DATABASE_PREFIX + self.name
        self.seed = Seed(seed)
        # The service checks token lifetimes against the wall clock: the sandbox's clock follows it.
        self.clock = VirtualClock.wall()
        self.keycloak = KeycloakFake.with_defaults(self.clock, self.seed)
        self.network = WebhookNetwork(self.clock, self.seed)
        self.sumsub = SumsubFake.with_seeded_credentials(self.clock, self.seed, network=self.network)
        self._given_database_url = database_url
        self._queue_url = queue_url or os.environ.get("QUEUE_URL")
        self.queue_name = queue_name or DATABASE_PREFIX + self.name
        self._run_service = run_service
        self._ports = {**DEFAULT_PORTS, **(ports or {})}
        self.port_moves: list[PortMove] = []
        self._created_database: tuple[str, str] | None = None  # (server URL, name): ours to drop
        self.smtp = SmtpFake(self.clock, self.seed, port=self._ports["smtp"], move_if_taken=True)
        self._servers: list[RunningServer] = []
        self._worker_task: asyncio.Task[None] | None = None
        self._worker: Worker | None = None
        self._remove_clock: Callable[[], None] | None = None  # gives the service its clock back
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

    async def _serve(self, component: str, app: Any) -> RunningServer:
        server = await serve_asgi(app, port=self._ports[component], move_if_taken=True)
        self._servers.append(server)
        if server.moved:
            self.port_moves.append(PortMove(component, server.requested_port, server.port))
        return server

    async def start(self) -> None:
        self.clock.start()
        keycloak = await self._serve("keycloak", self.keycloak.app)
        self.keycloak_url = keycloak.url + "/"
        self.keycloak.base_url = self.keycloak_url
        await self.smtp.start()
        if self._ports["smtp"] and self.smtp.port != self._ports["smtp"]:
            self.port_moves.append(PortMove("smtp", self._ports["smtp"], self.smtp.port))
        self.keycloak.smtp_host, self.keycloak.smtp_port = self.smtp.host, self.smtp.port
        self.smtp_api_url = (await self._serve("smtp_api", self.smtp.api_app)).url
        self.sumsub_url = (await self._serve("sumsub", self.sumsub.app)).url

        if self._given_database_url:
            self.database_url = self._given_database_url
        else:
            # a new database of its own: the fakes start empty, and so does it
            self.database_url = await self._create_own_database()
        await migrate(self.database_url)

        self.settings = load_settings(
            {},
            database_url=self.database_url,
            queue_url=self._queue_url,
            queue_name=self.queue_name,
            keycloak_url=self.keycloak_url,
            keycloak_admin_realm=self.keycloak.admin_realm,
            keycloak_customer_realm=self.keycloak.customer_realm,
            keycloak_client_id=self.keycloak.service_client_id,
            keycloak_client_secret=self.keycloak.service_client_secret,
            operator_client_ids=[self.keycloak.operator_client_id],
            service_audience=self.keycloak.service_audience,
            portal_client_id=self.keycloak.portal_client_id,
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
            admin_client_id=self.keycloak.operator_client_id,
            admin_session_secret=self.seed.token("admin.session", 43),
            log_level=os.environ.get("LOG_LEVEL", "INFO"),  # a notebook quiets the service with LOG_LEVEL
        )
        if not self._run_service:
            return  # the caller runs the service (in processes of its own) and calls attach_service
        # the service in this process reads time from the sandbox's clock: backoff, re-drive and timers
        # run on scenario time
        self._remove_clock = use_clock(self.clock.now)
        service = await self._serve("service", create_app(self.settings, migrate_on_start=False))
        self.attach_service(service.url)
        self._worker = build_worker(self.settings, self.database_url, handle_signals=False)
        await self._worker.queue.connect()
        self._worker_task = asyncio.create_task(self._worker.start(), name="sandbox-worker")

    async def _create_own_database(self) -> str:
        server_url = os.environ.get("DATABASE_URL")
        if not server_url:
            server = await asyncio.to_thread(start_embedded_postgres, durable=False)
            log.info("sandbox.database", server="embedded scratch PostgreSQL", data_dir=str(server.data_dir),
                     fsync="off: the sandbox's data is thrown away, and a crash may lose it")
            server_url = server.url()
        try:
            url = await create_new_database(
                server_url, self.database_name,
                comment=f"onboarding sandbox {self.name} (pid {os.getpid()} on {socket.gethostname()})")
        except DatabaseExists:
            raise SandboxNameTaken(
                f"the database {self.database_name} exists already: a sandbox named {self.name!r} is running, or "
                f"one was killed before it could clean up. Choose another name; the sandbox never drops a "
                f"database it did not create.") from None
        self._created_database = (server_url, self.database_name)
        return url

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
            env[name.upper()] = msgspec.json.encode(value).decode() if isinstance(value, dict | list) else str(value)
        return env

    async def stop(self) -> None:
        try:
            await self._stop_parts()
        finally:
            if self._remove_clock is not None:  # whatever failed on the way, the service's clock is given back
                self._remove_clock()
                self._remove_clock = None

    async def _stop_parts(self) -> None:
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
        if self._created_database is not None:
            server_url, name = self._created_database
            self._created_database = None
            try:
                await drop_database(server_url, name)
            except (OSError, psycopg.Error) as exc:  # the server went first: say what is left behind
                log.warning("sandbox.database_left_behind", database=name, error=str(exc))

    # facts
    @property
    def env(self) -> dict[str, str]:
        """What a client of the stack needs, under the names of the contract's env file."""
        kc = self.keycloak
        env = {
            "SANDBOX_NAME": self.name,
            "SERVICE_URL": self.service_url,
            "DATABASE_URL": self.database_url,
            "QUEUE_NAME": self.queue_name,
            "KEYCLOAK_URL": self.keycloak_url,
            "KEYCLOAK_ADMIN_REALM": kc.admin_realm,
            "KEYCLOAK_CUSTOMER_REALM": kc.customer_realm,
            "KEYCLOAK_CLIENT_ID": kc.service_client_id,
            "KEYCLOAK_CLIENT_SECRET": kc.service_client_secret,
            "OPERATOR_CLIENT_ID": kc.operator_client_id,
            "OPERATOR_USERNAME": kc.operator_username,
            "OPERATOR_PASSWORD": kc.operator_password,
            "VIEWER_USERNAME": kc.viewer_username,
            "VIEWER_PASSWORD": kc.viewer_password,
            "ADMIN_URL": f"{self.service_url}/admin" if self.service_url else "",
            "PORTAL_CLIENT_ID": kc.portal_client_id,
            "SERVICE_AUDIENCE": kc.service_audience,
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
        """Write the facts to ``path`` (mode 0600); ``python -m sim up`` also holds it while it runs."""
        lines = [HEADER, *(f"{key}={value}" for key, value in self.env.items())]
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
