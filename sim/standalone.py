"""Each fake on its own, on a real socket, until interrupted: ``python -m sim keycloak|sumsub|smtp``.

Every fake runs on a clock that follows the wall and draws from ``--seed``; it answers its own
protocol and the ``/__admin/`` API (journal, reset, faults) beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path

from sim.clock import VirtualClock
from sim.env_file import held_env_file
from sim.keycloak import KeycloakFake
from sim.sandbox import PortMove
from sim.seed import Seed
from sim.servers import RunningServer, serve_asgi
from sim.smtp import SmtpFake
from sim.sumsub import SumsubFake

__all__ = ["announce", "run_keycloak", "run_smtp", "run_sumsub", "until_interrupted"]


async def until_interrupted() -> None:
    """Until SIGINT or SIGTERM."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    print("stopping ...", flush=True)


def _secret(key: str) -> bool:
    return "PASSWORD" in key or "SECRET" in key or key.endswith("APP_TOKEN")


def announce(title: str, env: Mapping[str, str], moves: Iterable[PortMove], env_file: Path | None) -> None:
    """What is where, on stdout; secrets only in the env file."""
    for move in moves:
        print(str(move), flush=True)
    width = max(len(key) for key in env)
    print(f"{title}:", flush=True)
    for key, value in env.items():
        shown = value
        if _secret(key):
            shown = "(in the env file)" if env_file else "(hidden: give --env-file to have it written)"
        print(f"  {key.ljust(width)}  {shown}", flush=True)
    if env_file:
        print(f"Wrote {env_file}. Stop with Ctrl-C.", flush=True)
    else:
        print("Stop with Ctrl-C.", flush=True)


@contextlib.asynccontextmanager
async def _wall_clock() -> AsyncIterator[VirtualClock]:
    clock = VirtualClock.wall()
    clock.start()
    try:
        yield clock
    finally:
        await clock.stop()


async def _serve(component: str, app: object, port: int, moves: list[PortMove]) -> RunningServer:
    server = await serve_asgi(app, port=port, move_if_taken=True)
    if server.moved:
        moves.append(PortMove(component, server.requested_port, server.port))
    return server


async def _run(title: str, env: Mapping[str, str], moves: list[PortMove], env_file: str | None,
               name: str) -> None:
    if env_file:
        with held_env_file(Path(env_file), name, env) as written:
            announce(title, env, moves, written)
            await until_interrupted()
    else:
        announce(title, env, moves, None)
        await until_interrupted()


async def run_keycloak(*, port: int, seed: int, env_file: str | None) -> None:
    async with _wall_clock() as clock:
        fake = KeycloakFake.with_defaults(clock, Seed(seed))
        moves: list[PortMove] = []
        server = await _serve("keycloak", fake.app, port, moves)
        try:
            fake.base_url = server.url + "/"
            env = {
                "KEYCLOAK_URL": fake.base_url,
                "KEYCLOAK_ADMIN_API": f"{server.url}/__admin/",
                "KEYCLOAK_ADMIN_REALM": fake.admin_realm,
                "KEYCLOAK_CUSTOMER_REALM": fake.customer_realm,
                "KEYCLOAK_CLIENT_ID": fake.service_client_id,
                "KEYCLOAK_CLIENT_SECRET": fake.service_client_secret,
                "OPERATOR_CLIENT_ID": fake.operator_client_id,
                "OPERATOR_USERNAME": fake.operator_username,
                "OPERATOR_PASSWORD": fake.operator_password,
                "PORTAL_CLIENT_ID": fake.portal_client_id,
            }
            await _run("The Keycloak fake is up", env, moves, env_file, "keycloak")
        finally:
            await server.stop()


async def run_sumsub(*, port: int, seed: int, env_file: str | None, webhook_url: str | None,
                     webhook_secret: str | None) -> None:
    async with _wall_clock() as clock:
        fake = SumsubFake.with_seeded_credentials(clock, Seed(seed), webhook_url=webhook_url)
        if webhook_secret:
            fake.configure_webhook(webhook_url, secret=webhook_secret)
        moves: list[PortMove] = []
        server = await _serve("sumsub", fake.app, port, moves)
        try:
            env = {
                "SUMSUB_URL": server.url,
                "SUMSUB_ADMIN_API": f"{server.url}/__admin/",
                "SUMSUB_APP_TOKEN": fake.app_token,
                "SUMSUB_SECRET_KEY": fake.secret_key,
                "SUMSUB_WEBHOOK_SECRET": fake.webhook_secret,
                "SUMSUB_WEBHOOK_URL": webhook_url or "",
            }
            await _run("The Sumsub fake is up", env, moves, env_file, "sumsub")
        finally:
            await server.stop()
            await fake.aclose()


async def run_smtp(*, smtp_port: int, api_port: int, seed: int, env_file: str | None) -> None:
    async with _wall_clock() as clock:
        fake = SmtpFake(clock, Seed(seed), port=smtp_port, move_if_taken=True)
        await fake.start()
        moves: list[PortMove] = []
        if smtp_port and fake.port != smtp_port:
            moves.append(PortMove("smtp", smtp_port, fake.port))
        try:
            api = await _serve("smtp_api", fake.api_app, api_port, moves)
            try:
                env = {
                    "SMTP_HOST": fake.host,
                    "SMTP_PORT": str(fake.port),
                    "SMTP_API_URL": api.url,
                    "SMTP_ADMIN_API": f"{api.url}/__admin/",
                }
                await _run("The SMTP fake is up (its inbox is at SMTP_API_URL)", env, moves, env_file, "smtp")
            finally:
                await api.stop()
        finally:
            await fake.stop()
