"""Verified Sumsub callbacks accepted per second by one API process, against a bare Litestar route.

    .venv/bin/python -m bench.webhook_intake [--requests 4000] [--connections 32]

Two servers run side by side, each ``uvicorn`` with one worker, in processes of their own: the
service (``python -m service api`` on a scratch database: digest check, inbox insert, SAQ enqueue)
and ``bench.bare_intake`` (read the body, answer). One client loads both in turns with the same
number of keep-alive connections; every callback is distinct (its own correlationId and
createdAtMs) and signed as Sumsub signs it, so the service stores each one. The figure to read is
the ratio service / bare: what intake costs over a route that only reads the body.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.http_client import HttpResponse, LoadResult, encode_request, run_fixed_load
from bench.processes import ManagedProcess, cpu_seconds, webhook_receivers
from bench.reporting import machine, milliseconds, percentile, run_benchmark
from service.db.engine import libpq_url
from sim.sumsub.events import DEFAULT_TEMPLATES_DIR
from sim.sumsub.signing import PAYLOAD_DIGEST_ALG_HEADER, PAYLOAD_DIGEST_HEADER, payload_digest
from sim.sumsub.timestamps import event_timestamp_ms, review_timestamp
from tests.support.databases import scratch_database

__all__ = ["main"]

NAME = "webhook_intake"
DIGEST_ALG = "HMAC_SHA256_HEX"
TARGETS = {"bare": "bare Litestar route", "service": "service webhook"}


class SignedCallbacks:
    """Distinct GREEN ``applicantReviewed`` callbacks, encoded as requests and signed with ``secret``."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.template = json.loads((DEFAULT_TEMPLATES_DIR / "applicantReviewed.json").read_text())
        self._next_ms = int(time.time() * 1000)

    def requests(self, count: int, port: int) -> list[bytes]:
        encoded = []
        for _ in range(count):
            created_ms, self._next_ms = self._next_ms, self._next_ms + 1
            applicant_id = secrets.token_hex(12)
            payload = {**self.template, "applicantId": applicant_id, "inspectionId": applicant_id,
                       "correlationId": f"req-{uuid.uuid4()}", "externalUserId": str(uuid.uuid4()),
                       "reviewResult": {"reviewAnswer": "GREEN"},
                       "createdAt": review_timestamp(created_ms // 1000), "createdAtMs": event_timestamp_ms(created_ms)}
            body = json.dumps(payload, separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json",
                       PAYLOAD_DIGEST_HEADER: payload_digest(self.secret, body, DIGEST_ALG),
                       PAYLOAD_DIGEST_ALG_HEADER: DIGEST_ALG}
            encoded.append(encode_request("POST", "/webhooks/sumsub", host=f"127.0.0.1:{port}", body=body,
                                          headers=headers))
        return encoded


def is_accepted(response: HttpResponse) -> bool:
    if response.status != 200:
        return False
    try:
        return bool(response.json() == {"status": "accepted"})
    except ValueError:
        return False


def summary(result: LoadResult, server_cpu: float, client_cpu: float) -> dict[str, Any]:
    return {
        "target": result.label.split(" #")[0],
        "sent": result.sent,
        "accepted": result.accepted,
        "failures": result.failures,
        "failure_examples": result.failure_examples,
        "stopped_at_time_limit": result.timed_out,
        "seconds": round(result.elapsed, 3),
        "accepted_per_second": round(result.rate, 1),
        "p50_ms": milliseconds(percentile(result.latencies, 0.50)),
        "p99_ms": milliseconds(percentile(result.latencies, 0.99)),
        # CPU used over the run's wall time: 1.0 is one core kept busy
        "server_cores_busy": round(server_cpu / result.elapsed, 2) if result.elapsed else None,
        "client_cores_busy": round(client_cpu / result.elapsed, 2) if result.elapsed else None,
    }


async def load(process: ManagedProcess, port: int, requests: list[bytes], label: str, args: argparse.Namespace,
               accept: Callable[[HttpResponse], bool]) -> dict[str, Any]:
    process.check_running()
    server_before, client_before = cpu_seconds(process.pid), cpu_seconds()
    result = await run_fixed_load("127.0.0.1", port, requests, connections=args.connections, label=label,
                                  accept=accept, time_limit=args.run_time_limit)
    process.check_running()
    return summary(result, cpu_seconds(process.pid) - server_before, cpu_seconds() - client_before)


async def count_inbox_rows(database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as connection:
        row = await (await connection.execute("SELECT count(*) FROM kyc_callbacks")).fetchone()
    assert row is not None
    return int(row[0])


async def measure(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    started = time.monotonic()
    facts = machine()
    callbacks = SignedCallbacks(secrets.token_hex(32))
    print("making a scratch database ...", file=sys.stderr, flush=True)
    async with scratch_database("bench_intake") as database_url, \
            webhook_receivers(database_url, callbacks.secret, log_dir) as (processes, ports):
        for target in TARGETS:  # imports, pools and caches warmed before anything is timed
            await load(processes[target], ports[target], callbacks.requests(args.warmup, ports[target]),
                       f"{target} warm-up", args, is_accepted)
        runs: list[dict[str, Any]] = []
        for number in range(1, args.rounds + 1):
            spent = time.monotonic() - started
            if number > 1 and spent + spent / (number - 1) * 0.8 > args.time_budget:
                print(f"  (round {number} skipped: the time budget of {args.time_budget:g}s)", file=sys.stderr)
                break
            for target in TARGETS:  # alternated, so drift in the machine's load hits both
                requests = callbacks.requests(args.requests, ports[target])
                runs.append({"round": number, **await load(processes[target], ports[target], requests,
                                                           f"{target} #{number}", args, is_accepted)})
        stored = await count_inbox_rows(database_url)

    best = {t: max((r for r in runs if r["target"] == t), key=lambda r: r["accepted_per_second"]) for t in TARGETS}
    sent_to_service = args.warmup + sum(r["sent"] for r in runs if r["target"] == "service")
    ours, floor = best["service"], best["bare"]
    return {
        "benchmark": NAME,
        "machine": facts,
        "settings": {"requests_per_run": args.requests, "warmup_requests": args.warmup,
                     "connections": args.connections, "rounds": args.rounds, "digest": DIGEST_ALG},
        "runs": runs,
        "best": best,
        "service_over_bare": {
            "accepted_per_second": round(ours["accepted_per_second"] / floor["accepted_per_second"], 3),
            "p50": round(ours["p50_ms"] / floor["p50_ms"], 2),
            "p99": round(ours["p99_ms"] / floor["p99_ms"], 2),
        },
        "inbox_rows": stored,
        "callbacks_sent_to_service": sent_to_service,
        "failures": sum(r["failures"] for r in runs),
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def report(results: dict[str, Any], path: Path) -> str:
    s = results["settings"]
    best, ratio = results["best"], results["service_over_bare"]
    rounds = len({r["round"] for r in results["runs"]})
    lines = [
        f"Webhook intake: {s['requests_per_run']} distinct signed callbacks per run, {s['connections']} keep-alive "
        f"connections, one uvicorn worker each; best of {rounds} alternated run(s)",
        f"  {'':<22}{'accepted/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'failures':>10}{'server CPU':>12}",
    ]
    for target, title in TARGETS.items():
        b = best[target]
        lines.append(f"  {title:<22}{b['accepted_per_second']:>11,.0f}{b['p50_ms']:>9.1f}{b['p99_ms']:>9.1f}"
                     f"{b['failures']:>10}{b['server_cores_busy']:>11.0%}")
    lines.append(f"  {'service / bare':<22}{ratio['accepted_per_second']:>11.3f}{ratio['p50']:>8.1f}x"
                 f"{ratio['p99']:>8.1f}x")
    lines.append(f"  inbox rows stored: {results['inbox_rows']} of {results['callbacks_sent_to_service']} callbacks "
                 f"sent to the service (warm-up included); failures in timed runs: {results['failures']}")
    for run in results["runs"]:
        for example in run["failure_examples"]:
            lines.append(f"  failure ({run['target']} #{run['round']}): {example}")
    lines.append(f"  {results['machine']['cpus']} CPUs, client in this process; "
                 f"{results['wall_seconds']:g}s in all; written to {path}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_intake", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="timed callbacks per run (default 4000)")
    parser.add_argument("--warmup", type=int, default=500, help="untimed callbacks per target first (default 500)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per target, alternated; the best counts")
    parser.add_argument("--run-time-limit", type=float, default=20.0, help="seconds after which a run stops")
    parser.add_argument("--time-budget", type=float, default=75.0, help="no new round starts past this (s)")
    args = parser.parse_args(argv)

    return run_benchmark(NAME, lambda log_dir: measure(args, log_dir), report)


if __name__ == "__main__":
    sys.exit(main())
