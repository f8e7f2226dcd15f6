"""The service's own commands, as groups of Litestar's CLI:

    litestar --app service.asgi:app database upgrade | downgrade REV | history | current
    litestar --app service.asgi:app workers run
    litestar --app service.asgi:app database stop-embedded

beside Litestar's own ``run``, ``routes`` and ``schema openapi``. Under ``litestar run`` the
service's logging stays as configured (structlog, JSON with ``LOG_JSON=true``): uvicorn's own
handlers and its access log, which would repeat each request's line, are not installed.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from contextlib import contextmanager

import click
from litestar import Litestar
from litestar.plugins import CLIPlugin

from service.settings import Settings

__all__ = ["ServiceCommands"]


class ServiceCommands(CLIPlugin):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @contextmanager
    def server_lifespan(self, app: Litestar) -> Iterator[None]:
        """Around ``litestar run``: uvicorn applies its default logging config (its own formatters,
        an access log) to loggers the app has already configured; for this run, that config is empty."""
        from uvicorn.config import LOGGING_CONFIG

        saved = copy.deepcopy(LOGGING_CONFIG)
        LOGGING_CONFIG.clear()
        LOGGING_CONFIG.update({"version": 1, "disable_existing_loggers": False})
        try:
            yield
        finally:
            LOGGING_CONFIG.clear()
            LOGGING_CONFIG.update(saved)

    def _database_url(self) -> str:
        from service.db.engine import resolve_database_url

        url, _ = asyncio.run(resolve_database_url(self.settings))
        return url

    def on_cli_init(self, cli: click.Group) -> None:
        @cli.group(help="Database migrations (Alembic), on DATABASE_URL or the embedded PostgreSQL.")
        def database() -> None:
            pass

        @database.command(help="Apply migrations up to REVISION (default: the newest).")
        @click.argument("revision", default="head")
        def upgrade(revision: str) -> None:
            from service.db.engine import migrate_sync

            migrate_sync(self._database_url(), revision)
            click.echo(f"database upgraded ({revision})")

        # "-1" is a revision here, not an option
        @database.command(help="Revert migrations down to REVISION (-1: the last one; base: all).",
                          context_settings={"ignore_unknown_options": True})
        @click.argument("revision")
        def downgrade(revision: str) -> None:
            from service.db.engine import downgrade_sync

            downgrade_sync(self._database_url(), revision)
            click.echo(f"database downgraded ({revision})")

        @database.command(help="The migrations, newest first.")
        def history() -> None:
            from alembic import command

            from service.db.engine import alembic_config

            command.history(alembic_config(self._database_url()))

        @database.command(help="The revision the database is at.")
        def current() -> None:
            from alembic import command

            from service.db.engine import alembic_config

            command.current(alembic_config(self._database_url()))

        @database.command("stop-embedded", help="Stop this user's embedded PostgreSQL servers.")
        def stop_embedded() -> None:
            from service.db.embedded import stop_embedded_servers

            for line in stop_embedded_servers():
                click.echo(line)

        @cli.group(help="SAQ workers: provisioning, KYC processing and the outbox relay.")
        def workers() -> None:
            pass

        @workers.command(help="Run a worker until SIGINT or SIGTERM.")
        def run() -> None:
            from service.worker import run_worker

            asyncio.run(run_worker(self.settings))
