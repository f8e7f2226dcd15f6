"""Webhooks per second the Sumsub fake delivers: side by side (its default bound) against one at a
time (the baseline: how it sent before), to the service's real intake and to a bare route.

    .venv/bin/python -m bench.webhook_delivery [--webhooks 1000] [--in-flight 8]

The receivers run in processes of their own, as in ``bench.webhook_intake``: ``python -m service
api`` on a scratch database (digest check, inbox insert, queue) and ``bench.bare_intake``. The fake
runs here, on a virtual clock: N applicants are created in one instant (one ``applicantCreated``
webhook each), then the clock runs what is due and the time until every webhook is acknowledged is
what counts. The figure to read is the ratio concurrent / one at a time, per receiver.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from bench.processes import webhook_receivers
from bench.reporting import machine, run_benchmark
from sim.clock import VirtualClock
from sim.seed import Seed
from sim.sumsub import SumsubFake
from sim.sumsub.webhooks import MAX_IN_FLIGHT
from tests.support.databases import scratch_database

__all__ = ["main"]

NAME = "webhook_delivery"
RECEIVERS = {"service": "service intake", "bare": "bare Litestar route"}
LEVEL = "basic-kyc-level"
WEBHOOK_SECRET = secrets.token_hex(16)  # shared by the fake and the service it signs for


async def deliver(url: str, count: int, in_flight: int, seed: int) -> dict[str, Any]:
    """``count`` webhooks due in one instant, sent with at most ``in_flight`` at a time."""
    clock = VirtualClock()
    fake = SumsubFake.with_seeded_credentials(clock, Seed(seed), webhook_max_in_flight=in_flight)
    fake.configure_webhook(url, secret=WEBHOOK_SECRET)
    try:
        for number in range(count):
            fake.create_applicant(f"bench-{seed}-{number}", LEVEL)
        started = time.perf_counter()
        await clock.run_due()
        elapsed = time.perf_counter() - started
    finally:
        await fake.aclose()
    delivered = sum(1 for d in fake.webhooks.deliveries if d.state == "delivered")
    return {"in_flight": in_flight, "webhooks": count, "delivered": delivered, "seconds": round(elapsed, 3),
            "per_second": round(delivered / elapsed, 1)}


async def measure(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    facts = machine()
    started = time.monotonic()
    seed = 0
    async with scratch_database("bench_delivery") as database_url, \
            webhook_receivers(database_url, WEBHOOK_SECRET, log_dir) as (_processes, ports):
        runs: list[dict[str, Any]] = []
        for receiver in RECEIVERS:
            url = f"http://127.0.0.1:{ports[receiver]}/webhooks/sumsub"
            await deliver(url, args.warmup, args.in_flight, seed)  # pools and caches warmed
            for in_flight in (1, args.in_flight):  # the baseline first, then the bound
                seed += 1
                run = await deliver(url, args.webhooks, in_flight, seed)
                runs.append({"receiver": receiver, **run})
                print(f"  {receiver}, {in_flight} in flight: {run['per_second']:,.0f}/s", file=sys.stderr)
    ratios = {}
    for receiver in RECEIVERS:
        one, many = (next(r for r in runs if r["receiver"] == receiver and r["in_flight"] == n)
                     for n in (1, args.in_flight))
        ratios[receiver] = round(many["per_second"] / one["per_second"], 2)
    return {"benchmark": NAME, "machine": facts,
            "settings": {"webhooks_per_run": args.webhooks, "in_flight": args.in_flight, "warmup": args.warmup},
            "runs": runs, "concurrent_over_one_at_a_time": ratios,
            "wall_seconds": round(time.monotonic() - started, 1)}


def report(results: dict[str, Any], path: Path) -> str:
    s = results["settings"]
    lines = [f"Webhook delivery by the Sumsub fake: {s['webhooks_per_run']} webhooks due in one instant per run",
             f"  {'receiver':<22}{'in flight':>10}{'webhooks/s':>12}{'delivered':>11}"]
    for run in results["runs"]:
        lines.append(f"  {RECEIVERS[run['receiver']]:<22}{run['in_flight']:>10}{run['per_second']:>12,.0f}"
                     f"{run['delivered']:>11}")
    for receiver, ratio in results["concurrent_over_one_at_a_time"].items():
        lines.append(f"  {RECEIVERS[receiver]}: {s['in_flight']} in flight / one at a time = {ratio:.2f}")
    lines.append(f"  {results['machine']['cpus']} CPUs, sender in this process; {results['wall_seconds']:g}s in all; "
                 f"written to {path}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_delivery", description=__doc__.split("\n")[0])
    parser.add_argument("--webhooks", type=int, default=1000, help="webhooks per timed run (default 1000)")
    parser.add_argument("--in-flight", type=int, default=MAX_IN_FLIGHT,
                        help=f"the concurrent run's bound (default: the fake's, {MAX_IN_FLIGHT})")
    parser.add_argument("--warmup", type=int, default=100, help="untimed webhooks per receiver first")
    args = parser.parse_args(argv)
    return run_benchmark(NAME, lambda log_dir: measure(args, log_dir), report)


if __name__ == "__main__":
    sys.exit(main())
