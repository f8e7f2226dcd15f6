"""``python -m service api | worker | migrate | db-stop``: the processes tests and benchmarks start.

People use the same verbs through Litestar's CLI (``litestar --app service.asgi:app run``,
``workers run``, ``database upgrade``, ``database stop-embedded``): see the README.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from service.settings import SettingsError, load_settings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description="The customer-onboarding service.")
    commands = parser.add_subparsers(dest="command", required=True)
    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", help="overrides HOST")
    api.add_argument("--port", type=int, help="overrides PORT")
    api.add_argument("--workers", type=int, default=1, help="API processes (default 1)")
    commands.add_parser("worker", help="run a SAQ worker")
    commands.add_parser("migrate", help="apply database migrations and exit")
    commands.add_parser("db-stop", help="stop this user's embedded PostgreSQL servers")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    from service.logging import configure_logging

    configure_logging(settings.log_level, json=settings.log_json)

    if args.command == "migrate":
        from service.db.engine import migrate, resolve_database_url

        async def run_migrations() -> None:
            url, _ = await resolve_database_url(settings)
            await migrate(url)

        asyncio.run(run_migrations())
        print("migrations applied")
        return 0
    if args.command == "db-stop":
        from service.db.embedded import stop_embedded_servers

        for line in stop_embedded_servers():
            print(line)
        return 0
    if args.command == "worker":
        from service.worker import run_worker

        try:
            import uvloop
        except ImportError:  # not built for this platform: the standard loop does the same, slower
            asyncio.run(run_worker(settings))
        else:
            uvloop.run(run_worker(settings))
        return 0

    import uvicorn

    if settings.database_url is None:
        # Start the embedded server once, here, and hand its URL to every API process.
        from service.db.engine import migrate, resolve_database_url

        url, _ = asyncio.run(resolve_database_url(settings))
        asyncio.run(migrate(url))
        os.environ["DATABASE_URL"] = url
    uvicorn.run("service.asgi:app", host=args.host or settings.host, port=args.port or settings.port,
                workers=args.workers, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
