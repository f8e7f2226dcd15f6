"""Why the service has one PostgreSQL driver: asyncpg against psycopg on the webhook's own work.

    .venv/bin/python -m bench.database_drivers [--inserts 4000] [--concurrency 32]

The service speaks psycopg (SQLAlchemy's dialect, the webhook's inbox INSERT, the relay's LISTEN,
SAQ's Postgres queue); it spoke asyncpg before, with psycopg there only for SAQ. This measures what
the move to one driver costs on the hot path, and would tell if asyncpg ever became worth a second
driver again: the same single-row ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` of a
callback-sized jsonb body, from ``--concurrency`` tasks over a pool of 10 connections, on a scratch
database, alternating drivers over several rounds (the best of each counts). The figure to read is
the ratio psycopg / asyncpg. asyncpg is a development dependency for this file only."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
from psycopg_pool import AsyncConnectionPool

from bench.reporting import machine, run_benchmark
from service.db.engine import libpq_url
from tests.support.databases import scratch_database

__all__ = ["main"]

NAME = "database_drivers"
POOL_SIZE = 10
INSERT_ASYNCPG = ("INSERT INTO bench_inbox (key, payload) VALUES ($1, $2::jsonb) "
                  "ON CONFLICT (key) DO NOTHING RETURNING id")
INSERT_PSYCOPG = ("INSERT INTO bench_inbox (key, payload) VALUES (%s, %s::jsonb) "
                  "ON CONFLICT (key) DO NOTHING RETURNING id")
PAYLOAD = json.dumps({"type": "applicantReviewed", "applicantId": "5cb56e8e0a975a35f333cb83",
                      "reviewResult": {"reviewAnswer": "GREEN"}, "padding": "x" * 800})


async def _timed(inserts: int, concurrency: int, insert_one: Callable[[str], Awaitable[Any]]) -> float:
    keys = iter([f"k-{uuid.uuid4()}" for _ in range(inserts)])

    async def client() -> None:
        for key in keys:
            await insert_one(key)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return inserts / (time.perf_counter() - started)


async def _with_asyncpg(url: str, inserts: int, concurrency: int) -> float:
    pool = await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)
    try:
        return await _timed(inserts, concurrency, lambda key: pool.fetchval(INSERT_ASYNCPG, key, PAYLOAD))
    finally:
        await pool.close()


async def _with_psycopg(url: str, inserts: int, concurrency: int) -> float:
    async with AsyncConnectionPool(url, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False,
                                   kwargs={"autocommit": True}) as pool:
        await pool.wait()

        async def insert_one(key: str) -> Any:
            async with pool.connection() as connection:
                cursor = await connection.execute(INSERT_PSYCOPG, (key, PAYLOAD))
                return await cursor.fetchone()

        return await _timed(inserts, concurrency, insert_one)


async def measure(args: argparse.Namespace, _: Path) -> dict[str, Any]:
    async with scratch_database("bench_drivers") as database_url:
        url = libpq_url(database_url)
        connection = await asyncpg.connect(url)
        await connection.execute("CREATE TABLE bench_inbox (id bigserial PRIMARY KEY, key text UNIQUE NOT NULL, "
                                 "payload jsonb NOT NULL)")
        await connection.close()
        rates: dict[str, list[float]] = {"asyncpg": [], "psycopg": []}
        for _round in range(args.rounds):
            rates["asyncpg"].append(await _with_asyncpg(url, args.inserts, args.concurrency))
            rates["psycopg"].append(await _with_psycopg(url, args.inserts, args.concurrency))
    best = {driver: max(values) for driver, values in rates.items()}
    return {"machine": machine(), "inserts": args.inserts, "concurrency": args.concurrency, "pool": POOL_SIZE,
            "psycopg_version": psycopg.__version__, "asyncpg_version": asyncpg.__version__,
            "rounds": rates, "best_per_second": best, "ratio_psycopg_to_asyncpg": best["psycopg"] / best["asyncpg"]}


def report(results: dict[str, Any], path: Path) -> str:
    best = results["best_per_second"]
    return (f"single-row inbox INSERTs per second, {results['concurrency']} tasks, pool of {results['pool']}:\n"
            f"  asyncpg {best['asyncpg']:,.0f}/s   psycopg {best['psycopg']:,.0f}/s   "
            f"ratio psycopg/asyncpg {results['ratio_psycopg_to_asyncpg']:.2f}\n(written to {path})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.database_drivers", description=__doc__.split("\n")[0])
    parser.add_argument("--inserts", type=int, default=4000, help="timed INSERTs per run (default 4000)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent tasks (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per driver, alternated; the best counts")
    args = parser.parse_args(argv)
    return run_benchmark(NAME, lambda log_dir: measure(args, log_dir), report)


if __name__ == "__main__":
    sys.exit(main())
