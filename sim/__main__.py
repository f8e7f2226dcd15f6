"""``python -m sim``: the whole stack (``up``), each fake on its own (``keycloak``, ``sumsub``,
``smtp``), a customer's portal login (``portal-login``), and scenario files (``run``, ``replay``,
``search``: ``sim.scenarios.cli``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path

from service.logging import configure_logging
from service.settings import read_dotenv
from sim.env_file import held_env_file
from sim.portal_login import LoginFailed, log_in_through_login_page
from sim.sandbox import DEFAULT_PORTS, Sandbox, SandboxNameTaken
from sim.scenarios import cli as scenario_cli
from sim.standalone import announce, run_keycloak, run_smtp, run_sumsub, until_interrupted


async def up(args: argparse.Namespace) -> int:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    # --any-ports: the system picks every port not given explicitly
    ports = dict.fromkeys(DEFAULT_PORTS, 0) if args.any_ports else dict(DEFAULT_PORTS)
    for component, given in (("service", args.port), ("keycloak", args.keycloak_port)):
        if given is not None:
            ports[component] = given
    try:
        stack = Sandbox(seed=args.seed, name=args.name, ports=ports)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        async with stack:
            title = f"The onboarding sandbox is up, named {stack.name}"
            with contextlib.ExitStack() as held:
                env_file = None
                if args.env_file:
                    env_file = held.enter_context(held_env_file(Path(args.env_file), stack.name, stack.env))
                    if env_file != Path(args.env_file):
                        print(f"{args.env_file} belongs to another running stack; this one's is {env_file}",
                              flush=True)
                announce(title, stack.env, stack.port_moves, env_file)
                await until_interrupted()
    except SandboxNameTaken as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


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


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="the seed every id and fault derives from")
    parser.add_argument("--env-file", help="write what a client needs (URLs, clients, credentials) here")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description="The onboarding sandbox and its fakes.")
    commands = parser.add_subparsers(dest="command", required=True)

    up_parser = commands.add_parser("up", help="run the whole stack until interrupted")
    _common(up_parser)
    up_parser.add_argument("--name", help="the stack's name, and so its database sandbox_NAME and queue "
                                          "(default: a fresh random one)")
    up_parser.add_argument("--port", type=int, help=f"the API's port, when free (0: any; default "
                                                    f"{DEFAULT_PORTS['service']})")
    up_parser.add_argument("--keycloak-port", type=int, help=f"the Keycloak fake's port, when free (0: any; "
                                                             f"default {DEFAULT_PORTS['keycloak']})")
    up_parser.add_argument("--any-ports", action="store_true",
                           help="let the system pick every port not given explicitly")

    keycloak_parser = commands.add_parser("keycloak", help="the Keycloak fake alone")
    _common(keycloak_parser)
    keycloak_parser.add_argument("--port", type=int, default=DEFAULT_PORTS["keycloak"],
                                 help="when free (0: any)")

    sumsub_parser = commands.add_parser("sumsub", help="the Sumsub fake alone")
    _common(sumsub_parser)
    sumsub_parser.add_argument("--port", type=int, default=DEFAULT_PORTS["sumsub"], help="when free (0: any)")
    sumsub_parser.add_argument("--webhook-url", help="where to send the signed webhooks (none: kept, not sent)")
    sumsub_parser.add_argument("--webhook-secret", help="the key of X-Payload-Digest (default: from the seed)")

    smtp_parser = commands.add_parser("smtp", help="the SMTP fake alone, with its API and web inbox")
    _common(smtp_parser)
    smtp_parser.add_argument("--smtp-port", type=int, default=DEFAULT_PORTS["smtp"], help="when free (0: any)")
    smtp_parser.add_argument("--api-port", type=int, default=DEFAULT_PORTS["smtp_api"], help="when free (0: any)")

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
    if args.command == "up":
        return asyncio.run(up(args))
    configure_logging(os.environ.get("LOG_LEVEL", "WARNING"))
    if args.command == "keycloak":
        asyncio.run(run_keycloak(port=args.port, seed=args.seed, env_file=args.env_file))
    elif args.command == "sumsub":
        asyncio.run(run_sumsub(port=args.port, seed=args.seed, env_file=args.env_file,
                               webhook_url=args.webhook_url, webhook_secret=args.webhook_secret))
    else:
        asyncio.run(run_smtp(smtp_port=args.smtp_port, api_port=args.api_port, seed=args.seed,
                             env_file=args.env_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
