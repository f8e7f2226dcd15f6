"""What a statement costs the client's CPU, by how it is sent: why the jobs' statements are built
once and sent on the driver.

    .venv/bin/python -m bench.statement_costs [--transactions 2000] [--statements 4] [--rounds 3]

A provisioning run sends a few dozen statements a customer, and on this machine the client's side
of each is a large share of the worker's CPU. This measures a transaction of a few statements (as
many as a step's record sends: the lock, the step's end, the follow-up's claim, the customer's
state), each an UPDATE of a customer's lifecycle state, sent five ways on one connection of a
scratch database: SQLAlchemy's ORM-enabled ``update(CustomerRecord)`` built for each call (as the
fold and the step runner once did), the same on the Core table, a Core statement built once and
given its values through ``session.execute``, the same statement compiled once and sent on the
session's own psycopg connection (``service.db.driver``, what
``service.customers.repository.update_state`` does now), and the bare driver (psycopg, the same
SQL, no session), the floor. The figure is client CPU per transaction (user and system time of this
process), each way run in turn over several rounds, the lowest of each counting; the ratio to read
is each way against the statement built once."""

from __future__ import annotations

import argparse
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg.sql import SQL, Identifier, Placeholder
from sqlalchemy import Table, bindparam, update

from bench.reporting import machine, run_benchmark
from service.customers.domain import CustomerType, KycStatus
from service.customers.repository import customer_state, insert_customer, state_values, update_state
from service.db.engine import create_engine, libpq_url, session_factory
from service.db.models import CustomerRecord
from tests.support.databases import scratch_database

__all__ = ["main"]

NAME = "statement_costs"
WAYS = ("orm_update_built_each_time", "core_update_built_each_time", "core_update_built_once",
        "built_once_on_the_driver", "psycopg_alone")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _per_transaction(count: int, transaction: Callable[[int], Awaitable[None]]) -> float:
    for number in range(100):  # warm: the statement caches, the server's prepared statements
        await transaction(number)
    started = _cpu()
    for number in range(count):
        await transaction(number)
    return (_cpu() - started) / count


async def measure(args: argparse.Namespace, _: Path) -> dict[str, Any]:
    async with scratch_database("bench_statements") as database_url:
        engine = create_engine(database_url, 1)
        sessions = session_factory(engine)
        async with sessions.begin() as session:
            record = await insert_customer(session, email=f"bench.{uuid.uuid4().hex[:8]}@example.com",
                                           customer_type=CustomerType.PRIVATE_COMPANY, telegram_id=None)
        state = customer_state(record)
        table = cast(Table, CustomerRecord.__table__)

        def values(number: int) -> dict[str, Any]:
            kyc_status = KycStatus.PENDING if number % 2 else KycStatus.APPROVED
            return {**state_values(state), "kyc_status": kyc_status.value, "keycloak_user_id": f"user-{number}"}

        each = range(args.statements)

        async def orm(number: int) -> None:
            async with sessions.begin() as session:
                for _ in each:
                    await session.execute(update(CustomerRecord).where(CustomerRecord.id == state.id)
                                          .values(values(number)))

        async def core(number: int) -> None:
            async with sessions.begin() as session:
                for _ in each:
                    await session.execute(update(table).where(table.c.id == state.id).values(values(number)))

        built_once = (update(table).where(table.c.id == bindparam("the_customer"))
                      .values({name: bindparam(f"new_{name}") for name in values(0)}))

        def named(number: int) -> dict[str, Any]:
            return {"the_customer": state.id, **{f"new_{name}": value for name, value in values(number).items()}}

        async def once(number: int) -> None:
            async with sessions.begin() as session:
                for _ in each:
                    await session.execute(built_once, named(number))

        async def on_the_driver(number: int) -> None:  # what the jobs send
            async with sessions.begin() as session:
                for _ in each:
                    changed = replace(state, kyc_status=KycStatus.PENDING if number % 2 else KycStatus.APPROVED)
                    await update_state(session, changed, keycloak_user_id=f"user-{number}")

        statement = SQL("UPDATE customers SET {}, updated_at = now() WHERE id = %(the_customer)s").format(
            SQL(", ").join(SQL("{} = {}").format(Identifier(name), Placeholder(name)) for name in values(0)))
        connection = await psycopg.AsyncConnection.connect(libpq_url(database_url))

        async def driver(number: int) -> None:
            async with connection.transaction():
                for _ in each:
                    await connection.execute(statement, {**values(number), "the_customer": state.id})

        ways = dict(zip(WAYS, (orm, core, once, on_the_driver, driver), strict=True))
        rounds: dict[str, list[float]] = {way: [] for way in WAYS}
        started = time.monotonic()
        try:
            for _round in range(args.rounds):
                for way, transaction in ways.items():
                    rounds[way].append(await _per_transaction(args.transactions, transaction))
        finally:
            await connection.close()
            await engine.dispose()
    best = {way: min(values) for way, values in rounds.items()}
    return {"machine": machine(), "transactions_per_run": args.transactions, "rounds": args.rounds,
            "statements_per_transaction": args.statements,
            "cpu_ms_per_transaction": {way: [round(v * 1000, 3) for v in values] for way, values in rounds.items()},
            "best_cpu_ms": {way: round(v * 1000, 3) for way, v in best.items()},
            "over_built_once": {way: round(v / best["core_update_built_once"], 2) for way, v in best.items()},
            "wall_seconds": round(time.monotonic() - started, 1)}


def report(results: dict[str, Any], path: Path) -> str:
    lines = [f"transactions of {results['statements_per_transaction']} UPDATEs of a customer's state "
             f"(BEGIN, the UPDATEs, COMMIT), {results['transactions_per_run']} a run, best of {results['rounds']}:",
             "                                 client CPU ms   / built once"]
    for way in WAYS:
        lines.append(f"  {way.replace('_', ' '):<30}{results['best_cpu_ms'][way]:>12.3f}"
                     f"{results['over_built_once'][way]:>13.2f}")
    lines.append(f"(written to {path})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.statement_costs", description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=2000, help="timed transactions per run (default 2000)")
    parser.add_argument("--statements", type=int, default=4,
                        help="statements per transaction (default 4, as many as a step's record sends)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per way, in turn; the lowest counts (default 3)")
    args = parser.parse_args(argv)
    return run_benchmark(NAME, lambda log_dir: measure(args, log_dir), report)


if __name__ == "__main__":
    sys.exit(main())
