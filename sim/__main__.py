"""``python -m sim up [--env-file PATH] [--seed N]``: the whole stack, until interrupted;
``python -m sim portal-login``: a customer's portal token, through the login page;
``python -m sim run|replay|search``: scenario files (``sim.scenarios.cli``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from service.logging import configure_logging
from service.settings import read_dotenv
from sim.portal_login import LoginFailed, log_in_through_login_page
from sim.sandbox import DEFAULT_PORTS, Sandbox
from sim.scenarios import cli as scenario_cli


async def up(args: argparse.Namespace) -> None:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    ports = {"service": args.port, "keycloak": args.keycloak_port}
    if args.any_ports:
        ports = dict.fromkeys(DEFAULT_PORTS, 0)
    async with Sandbox(seed=args.seed, ports=ports) as stack:
        if args.env_file:
            stack.write_env_file(Path(args.env_file))
        width = max(len(k) for k in stack.env)
        print("The onboarding sandbox is up:", flush=True)
        for key, value in stack.env.items():
            shown = value if "PASSWORD" not in key and "SECRET" not in key else "(in the env file)"
            print(f"  {key.ljust(width)}  {shown}", flush=True)
        if args.env_file:
            print(f"Wrote {args.env_file}. Stop with Ctrl-C.", flush=True)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stopped.set)
        await stopped.wait()
        print("stopping ...", flush=True)


async def portal_login(args: argparse.Namespace) -> int:
    env = read_dotenv(Path(args.env_file))
    try:
        login = await log_in_through_login_page(env["KEYCLOAK_URL"], env["KEYCLOAK_CUSTOMER_REALM"],
                                                env["PORTAL_CLIENT_ID"], args.username, args.password,
                                                new_password=args.new_password)
    except LoginFailed as exc:
        print(f"login failed: {exc}", file=sys.stderr)
        return 1
    print(login.access_token)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description="The onboarding sandbox.")
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="run the whole stack until interrupted")
    up_parser.add_argument("--env-file", help="write the stack's facts (URLs, clients, credentials) here")
    up_parser.add_argument("--seed", type=int, default=0, help="the seed every id and fault derives from")
    up_parser.add_argument("--port", type=int, default=DEFAULT_PORTS["service"],
                           help="the API's port when free (0: any)")
    up_parser.add_argument("--keycloak-port", type=int, default=DEFAULT_PORTS["keycloak"],
                           help="the Keycloak fake's port when free (0: any)")
    up_parser.add_argument("--any-ports", action="store_true",
                           help="let the system pick every port (several stacks on one machine)")
    login_parser = commands.add_parser(
        "portal-login", help="log a customer in through the login page, as the portal would; prints the token")
    login_parser.add_argument("--env-file", default="stack.env", help="the env file `sim up` wrote")
    login_parser.add_argument("--username", required=True, help="the customer's email")
    login_parser.add_argument("--password", required=True, help="the password (the welcome email's, first time)")
    login_parser.add_argument("--new-password", help="given when Keycloak asks for a new password")
    scenario_cli.register(commands)
    args = parser.parse_args(argv)
    if hasattr(args, "handler"):
        return int(args.handler(args))
    if args.command == "portal-login":
        return asyncio.run(portal_login(args))
    asyncio.run(up(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
