"""Customers carried from creation to active per second, by one API process and one worker.

    .venv/bin/python -m bench.provisioning [--customers 200] [--concurrency 16] [--profile-worker OUT.prof]

The queue is the Postgres queue on the scratch database, or Redis with ``QUEUE_URL=redis://…``.

The fakes (Sumsub, Keycloak, SMTP) run on real sockets in this process, on a scratch database;
``python -m service api`` and ``python -m service worker`` run as processes of their own. Each
customer is created, given a KYC link, and approved (``sumsub.review(..., "GREEN")``, whose signed
webhook the fake then delivers); the customer list is polled until every one is active. The
baseline, measured in the same run with the same client and concurrency, is creating customers
and nothing else: provisioning throughput is reported as a fraction of it. After the run, the
database's timestamps and the fakes' records say how long each stage between GREEN and active
took, and the CPU each process used says where the machine's time went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg.rows import dict_row

from bench.http_client import ConnectionPool, HttpResponse
from bench.processes import ManagedProcess, base_environment, cpu_seconds, free_port, managed_process
from bench.reporting import machine, milliseconds, percentile, run_benchmark
from service.db.engine import libpq_url
from service.logging import configure_logging
from service.queue import create_queue, queue_backend
from sim.sandbox import DEFAULT_PORTS, Sandbox
from tests.support.databases import scratch_database

__all__ = ["main"]

NAME = "provisioning"
AIM_PER_SECOND = 50.0


class BenchmarkError(RuntimeError):
    pass


@dataclass
class Customer:
    id: str
    email: str
    started_at: float  # wall clock, as PostgreSQL's timestamps are
    applicant_id: str = ""
    green_at: float = 0.0
    seen_active_at: float | None = None


@dataclass
class Batch:
    """What one phase did: the customers it carried, how long it took, what went wrong."""

    customers: list[Customer] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0
    failures: list[str] = field(default_factory=list)  # the first few; ``failed`` counts them all
    failed: int = 0

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at

    def fail(self, what: str) -> None:
        self.failed += 1
        if len(self.failures) < 5:
            self.failures.append(what)


def _expect(response: HttpResponse, status: int, what: str) -> Any:
    if response.status != status:
        raise BenchmarkError(f"{what}: {response.status} {response.body[:300]!r}")
    return response.json()


class Onboarding:
    """Drives customers through the service's API and the Sumsub fake, at most ``concurrency`` at once."""

    def __init__(self, sandbox: Sandbox, port: int, token: str, concurrency: int,
                 watcher: psycopg.AsyncConnection[Any]) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.sandbox = sandbox
        self.concurrency = concurrency
        self.pool = ConnectionPool("127.0.0.1", port, concurrency, headers)
        # who is active is read from the database, one indexed query a poll: paging the API's list of
        # every active customer four times a second cost the API more CPU than some of what is measured
        self.watcher = watcher

    def close(self) -> None:
        self.pool.close()

    async def create(self) -> Customer:
        started = time.time()
        email = f"bench.{uuid.uuid4().hex[:16]}@example.com"
        response = await self.pool.request("POST", "/api/customers",
                                           json={"email": email, "customer_type": "individual"})
        return Customer(str(_expect(response, 201, "POST /api/customers")["id"]), email, started)

    async def approve(self) -> Customer:
        customer = await self.create()
        response = await self.pool.request("POST", f"/api/customers/{customer.id}/kyc-link")
        customer.applicant_id = _expect(response, 200, "POST kyc-link")["applicant_id"]
        customer.green_at = time.time()
        self.sandbox.sumsub.review(customer.applicant_id, "GREEN")  # the fake delivers the signed webhook
        return customer

    async def _many(self, count: int, label: str, time_limit: float, one: Callable[[], Awaitable[Customer]],
                    batch: Batch | None = None) -> Batch:
        """``one()`` ``count`` times, ``concurrency`` at once; progress shown unless into a caller's batch."""
        shown = batch is None
        batch = batch or Batch(started_at=time.time())
        gate = asyncio.Semaphore(self.concurrency)
        stop_at = time.monotonic() + time_limit

        async def each() -> None:
            async with gate:
                if time.monotonic() > stop_at:
                    return
                try:
                    batch.customers.append(await one())
                except (BenchmarkError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    batch.fail(str(exc))

        progress = asyncio.create_task(_show_progress(label, lambda: f"{len(batch.customers)}/{count}", shown))
        try:
            await asyncio.gather(*(each() for _ in range(count)))
        finally:
            batch.finished_at = time.time()
            await _stop(progress)
        if shown:
            print(f"  {label}: {len(batch.customers)}/{count} in {batch.seconds:.1f}s", file=sys.stderr, flush=True)
        return batch

    async def create_only(self, count: int, time_limit: float) -> Batch:
        return await self._many(count, "creation only", time_limit, self.create)

    async def provision(self, count: int, label: str, time_limit: float, poll_seconds: float) -> Batch:
        """Approve ``count`` customers and wait until each is active (or the time limit passes).

        The list of active customers is polled while customers are still being approved, so each
        is seen active within about ``poll_seconds`` of its activation.
        """
        batch = Batch(started_at=time.time())
        deadline = time.monotonic() + time_limit
        intake = asyncio.create_task(self._many(count, label, time_limit, self.approve, batch))
        progress = asyncio.create_task(_show_progress(label, lambda: (
            f"{len(batch.customers)} approved, {sum(c.seen_active_at is not None for c in batch.customers)} "
            f"active of {count}")))
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(poll_seconds)
                waiting = {c.id: c for c in batch.customers if c.seen_active_at is None}
                if waiting:
                    active = await self._active_ids(waiting)
                    seen_at = time.time()
                    for customer_id in active & waiting.keys():
                        waiting[customer_id].seen_active_at = seen_at
                if intake.done():
                    intake.result()  # an unexpected error in the intake ends the run here
                    if all(c.seen_active_at is not None for c in batch.customers):
                        break
        finally:
            await _stop(progress)
            if not intake.done():
                intake.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await intake
        seen = [c.seen_active_at for c in batch.customers if c.seen_active_at is not None]
        batch.finished_at = max(seen) if seen and len(seen) == len(batch.customers) else time.time()
        print(f"  {label}: {len(seen)}/{count} active after {batch.seconds:.1f}s", file=sys.stderr, flush=True)
        return batch

    async def _active_ids(self, waiting: Iterable[str]) -> set[str]:
        cursor = await self.watcher.execute(
            "SELECT id::text FROM customers WHERE id = ANY(%s::uuid[]) AND activity_status = 'active'",
            ([uuid.UUID(customer_id) for customer_id in waiting],))
        return {row[0] for row in await cursor.fetchall()}


async def _show_progress(label: str, state: Callable[[], str], shown: bool = True) -> None:
    tty = sys.stderr.isatty()
    while shown:
        await asyncio.sleep(1.0)
        print(("\r" if tty else "") + f"  {label}: {state()}", end="" if tty else "\n", file=sys.stderr, flush=True)


async def _stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if sys.stderr.isatty():
        print("\r\x1b[K", end="", file=sys.stderr)  # the summary line that follows takes its place


async def wait_for_worker(sandbox: Sandbox, database_url: str, worker: ManagedProcess) -> None:
    """A ``ping`` job round trip: the worker is up and taking jobs."""
    assert sandbox.settings is not None
    queue = create_queue(sandbox.settings, database_url)
    await queue.connect()
    sent = uuid.uuid4().hex
    try:
        # retries: SAQ's Redis sweep, run as the worker starts, aborts a job it finds dequeued but not yet
        # marked active (seen once in four runs); a retryable job is queued again instead of failing the run
        if await queue.apply("ping", timeout=60, retries=3, token=sent) != sent:
            raise BenchmarkError("the worker's ping job answered something else")
    except TimeoutError:
        worker.check_running()
        raise BenchmarkError(f"the worker ran no ping job within 60s; the end of {worker.log_path}:\n"
                             f"{worker.log_tail()}") from None
    finally:
        await queue.disconnect()


class CpuMeter:
    """CPU seconds used by each named process between ``start`` and ``stop``.

    PostgreSQL counts the whole server: the postmaster, its live children and those it has reaped
    (a server shared with other clients of this machine counts their work too).
    """

    def __init__(self, pids: dict[str, int], postmaster: psutil.Process | None) -> None:
        self.pids = pids
        self.postmaster = postmaster
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _postgres(self) -> float:
        assert self.postmaster is not None
        total = self.postmaster.cpu_times()
        spent = total.user + total.system + total.children_user + total.children_system
        for child in self.postmaster.children():
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                spent += times.user + times.system
        return float(spent)

    def _read(self) -> dict[str, float]:
        readings = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        if self.postmaster is not None:
            with contextlib.suppress(psutil.Error):
                readings["postgres"] = self._postgres()
        return readings

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> None:
        end = self._read()
        self.used = {name: end[name] - self._start[name] for name in end if name in self._start}


TIMELINE = """
SELECT c.id::text AS id, c.activity_status, c.updated_at AS active,
       cb.received_at AS stored, cb.processed_at AS processed, o.relayed_at AS relayed, o.handled_at AS handled,
       a.created_at AS deposit_account,
       (SELECT coalesce(sum(attempts), 0) FROM provisioning_steps WHERE customer_id = c.id) AS attempts
FROM customers c
LEFT JOIN LATERAL (SELECT received_at, processed_at FROM kyc_callbacks
                   WHERE external_user_id = c.id::text AND type = 'applicantReviewed'
                   ORDER BY id LIMIT 1) cb ON true
LEFT JOIN LATERAL (SELECT relayed_at, handled_at FROM outbox
                   WHERE customer_id = c.id AND payload->>'kyc_status' = 'approved'
                   ORDER BY id LIMIT 1) o ON true
LEFT JOIN ledger_accounts a ON a.external_id = c.id::text
WHERE c.id = ANY(%s::uuid[])
"""

# (what happened, from, to): each a stage's own duration, per customer
STAGES = [
    ("webhook delivered, stored in the inbox", "green", "stored"),
    ("callback job queued and run", "stored", "processed"),
    ("outbox event relayed to the queue", "processed", "relayed"),
    ("provisioning job queued, event handled", "relayed", "handled"),
    ("Keycloak user created", "handled", "keycloak_user"),
    ("then the welcome email sent", "keycloak_user", "welcome_email"),
    ("(side by side) deposit account opened", "handled", "deposit_account"),
    ("activated, after the last of the three", "last_step", "active"),
]


async def stage_durations(database_url: str, sandbox: Sandbox,
                          customers: list[Customer]) -> tuple[dict[str, dict[str, float]], int]:
    """p50/p95 of each stage's duration (ms), and the provisioning step attempts beyond the first.

    Moments come from the database (inbox, outbox, ledger, the customer's activation) and from
    the fakes (the Keycloak user's creation, the email's arrival). A provisioning step's own
    ``updated_at`` is not used: the upsert that marks a step done does not move it, so it tells
    when the step was queued.
    """
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url), row_factory=dict_row) as connection:
        cursor = await connection.execute(TIMELINE, ([uuid.UUID(c.id) for c in customers],))
        rows = await cursor.fetchall()
    realm = sandbox.keycloak.realm(sandbox.keycloak.customer_realm)
    user_created = {user.attributes["customer_id"][0]: user.created_timestamp / 1000
                    for user in realm.users.values() if user.attributes.get("customer_id")}
    email_sent = {recipient: message.received_at.timestamp()
                  for message in sandbox.smtp.messages() for recipient in message.rcpt_tos}
    by_id = {c.id: c for c in customers}
    durations: dict[str, list[float]] = {label: [] for label, _, _ in STAGES}
    retries = 0
    for row in rows:
        customer = by_id[row["id"]]
        moments: dict[str, float | None] = {k: _epoch(row[k]) for k in (
            "stored", "processed", "relayed", "handled", "deposit_account")}
        moments["green"] = customer.green_at
        moments["keycloak_user"] = user_created.get(customer.id)
        moments["welcome_email"] = email_sent.get(customer.email)
        moments["active"] = _epoch(row["active"]) if row["activity_status"] == "active" else None
        steps = [moments[k] for k in ("keycloak_user", "deposit_account", "welcome_email")]
        moments["last_step"] = max(s for s in steps if s is not None) if all(steps) else None
        for label, begin, end in STAGES:
            since, until = moments[begin], moments[end]
            if since is not None and until is not None:
                durations[label].append(until - since)
        retries += max(0, int(row["attempts"]) - 3)
    return ({label: {"p50_ms": milliseconds(percentile(values, 0.5)), "p95_ms": milliseconds(percentile(values, 0.95)),
                     "customers": len(values)} for label, values in durations.items()}, retries)


async def activation_times(database_url: str, customers: list[Customer]) -> dict[str, float]:
    """When each active customer was activated (the activating transaction's timestamp)."""
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url), row_factory=dict_row) as connection:
        cursor = await connection.execute("SELECT id::text AS id, updated_at FROM customers "
                                          "WHERE id = ANY(%s::uuid[]) AND activity_status = 'active'",
                                          ([uuid.UUID(c.id) for c in customers],))
        rows = await cursor.fetchall()
    return {row["id"]: row["updated_at"].timestamp() for row in rows}


def steady_rate(moments: list[float]) -> float | None:
    """Activations per second between the first and the last tenth: the pipeline full, not filling."""
    if len(moments) < 20:
        return None
    ordered = sorted(moments)
    first, last = len(ordered) // 10, len(ordered) - 1 - len(ordered) // 10
    span = ordered[last] - ordered[first]
    return (last - first) / span if span > 0 else None


def webhook_sending(sandbox: Sandbox, customers: list[Customer]) -> dict[str, Any]:
    """How the Sumsub fake's webhooks to these customers went out.

    The fake sends at most ``max_in_flight`` side by side, each awaiting the service's answer: with the
    exchange time, that bounds how many customers' webhooks can arrive per second.
    """
    applicants = {c.applicant_id for c in customers}
    attempts = [a for a in sandbox.sumsub.webhooks.journal if a.applicant_id in applicants]
    exchanges = [a.latency for a in attempts]
    if not exchanges:
        return {}
    mean = sum(exchanges) / len(exchanges)
    per_customer = len(attempts) / len(customers)
    return {"attempts": len(attempts), "failed": sum(1 for a in attempts if a.status != 200),
            "exchange_p50_ms": milliseconds(percentile(exchanges, 0.5)),
            "exchange_p95_ms": milliseconds(percentile(exchanges, 0.95)),
            "webhooks_per_customer": round(per_customer, 1),
            "in_flight": sandbox.sumsub.webhooks.max_in_flight,
            "ceiling_customers_per_second": round(sandbox.sumsub.webhooks.max_in_flight / mean / per_customer, 1)}


def host_steal_seconds() -> float:
    """CPU time the hypervisor gave other guests while this machine's processes were runnable (Linux's
    ``steal`` in /proc/stat, all CPUs); 0 where there is none to read."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


DATABASE_ACTIVITY = """
SELECT sum(sessions)::bigint AS sessions, sum(xact_commit + xact_rollback)::bigint AS transactions
FROM pg_stat_database WHERE datname = current_database()
"""


async def database_activity(database_url: str) -> dict[str, int]:
    """Connections opened and transactions ended in the run's database so far (PostgreSQL's counters)."""
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url), row_factory=dict_row) as connection:
        row = await (await connection.execute(DATABASE_ACTIVITY)).fetchone()
        return {k: int(v or 0) for k, v in (row or {}).items()}


JOBS_DONE = """
SELECT split_part(key, ':', 1) AS kind, count(*) AS done FROM saq_jobs WHERE status = 'complete' GROUP BY 1
"""


async def jobs_done(database_url: str) -> dict[str, int]:
    """Completed SAQ jobs by kind (the first part of the job key); SAQ keeps them for a while."""
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url), row_factory=dict_row) as connection:
        cursor = await connection.execute(JOBS_DONE)
        return {row["kind"]: int(row["done"]) for row in await cursor.fetchall()}


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


async def find_postmaster(database_url: str) -> psutil.Process | None:
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as connection:
        try:
            return psutil.Process(connection.info.backend_pid).parent()  # while this backend still lives
        except psutil.Error:
            return None  # a server on another host or in a container: not measured


async def measure(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    began = time.monotonic()
    facts = machine()
    print("making a scratch database and starting the fakes ...", file=sys.stderr, flush=True)
    any_ports = dict.fromkeys(DEFAULT_PORTS, 0)
    async with (scratch_database("bench_provisioning") as database_url,
                Sandbox(run_service=False, database_url=database_url, ports=any_ports) as sandbox):
        configure_logging("WARNING")  # the fakes' Litestar apps set the root logger to INFO as they start
        # Keycloak runs on machines of its own in production, and hashing a password is its own work:
        # the fake's realm takes the password policy hashIterations(1), so that the PBKDF2 rounds of each
        # welcome email's temporary password are not counted against the service on this machine
        sandbox.keycloak.realm(sandbox.keycloak.customer_realm).password_hash_iterations = 1
        api_port = free_port()
        sandbox.attach_service(f"http://127.0.0.1:{api_port}")
        environment = {**base_environment(log_dir), **sandbox.service_environment(),
                       "HOST": "127.0.0.1", "PORT": str(api_port), "LOG_LEVEL": "WARNING"}
        print("starting the API and the worker ...", file=sys.stderr, flush=True)
        backend = queue_backend(sandbox.settings) if sandbox.settings is not None else "postgres"
        worker_args = ["-m", "service", "worker"]
        if args.profile_worker:  # its CPU profile is written when the worker stops
            worker_args = ["-m", "bench.profiled", args.profile_worker, "worker"]
        async with (managed_process("service-api", ["-m", "service", "api"], environment, log_dir) as api,
                    managed_process("service-worker", worker_args, environment, log_dir) as worker):
            await asyncio.gather(api.wait_ready(api_port, "/health/ready"),
                                 wait_for_worker(sandbox, database_url, worker))
            watcher = await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True)
            onboarding = Onboarding(sandbox, api_port, await sandbox.operator_token(), args.concurrency, watcher)
            meter = CpuMeter({"api": api.pid, "worker": worker.pid, "fakes_and_client": psutil.Process().pid},
                             await find_postmaster(database_url))
            try:
                warmup = await onboarding.provision(args.warmup, "warm-up", 30.0, args.poll_seconds)
                if len(warmup.customers) < args.warmup or any(c.seen_active_at is None for c in warmup.customers):
                    raise BenchmarkError(f"the warm-up customers did not all become active within 30s "
                                         f"({warmup.failures or 'no request failed'}); see {worker.log_path}")
                at_rest: list[Customer] = []
                for _ in range(args.at_rest):  # one at a time: the pipeline's own latency, no queueing
                    at_rest += (await onboarding.provision(1, "one at a time", 30.0, 0.02)).customers
                # the worker has nothing to do while customers are only created: its idle cost (polling the
                # queue, sweeps, the relay's wake-ups), which a long run on a loaded machine adds to
                idle = CpuMeter({"worker": worker.pid}, None)
                idle.start()
                baseline = await onboarding.create_only(args.baseline, args.phase_time_limit)
                idle.stop()
                counted = backend == "postgres"  # SAQ keeps finished jobs in a table only on PostgreSQL
                jobs_before = await jobs_done(database_url) if counted else {}
                sessions_before = await database_activity(database_url)
                stolen_before = host_steal_seconds()
                meter.start()
                run = await onboarding.provision(args.customers, "provisioning", args.phase_time_limit,
                                                 args.poll_seconds)
                meter.stop()
                stolen = host_steal_seconds() - stolen_before
                sessions_after = await database_activity(database_url)
                jobs_after = await jobs_done(database_url) if counted else {}
            finally:
                onboarding.close()
                await watcher.close()
            api.check_running()
            worker.check_running()
        activated = await activation_times(database_url, run.customers)
        rest_activated = await activation_times(database_url, at_rest)
        stages, retries = await stage_durations(database_url, sandbox, run.customers)
        sending = webhook_sending(sandbox, run.customers)

    latencies = [activated[c.id] - c.green_at for c in run.customers if c.id in activated]
    rest_latencies = [rest_activated[c.id] - c.green_at for c in at_rest if c.id in rest_activated]
    active = sum(1 for c in run.customers if c.seen_active_at is not None)
    creation_rate = len(baseline.customers) / baseline.seconds
    provisioning_rate = active / run.seconds if run.seconds else 0.0
    steady = steady_rate(list(activated.values()))
    jobs = {kind: done - jobs_before.get(kind, 0) for kind, done in jobs_after.items()
            if done > jobs_before.get(kind, 0)}
    intake_seconds = max((c.green_at for c in run.customers), default=run.started_at) - run.started_at
    return {
        "benchmark": NAME,
        "machine": facts,
        "queue_backend": backend,
        "settings": {"customers": args.customers, "concurrency": args.concurrency, "baseline_customers": args.baseline,
                     "warmup_customers": args.warmup, "one_at_a_time_customers": args.at_rest,
                     "poll_seconds": args.poll_seconds, "phase_time_limit_seconds": args.phase_time_limit},
        "provisioning": {
            "customers_requested": args.customers, "customers_approved": len(run.customers),
            "customers_active": active, "seconds": round(run.seconds, 2),
            "customers_per_second": round(provisioning_rate, 1),
            "steady_customers_per_second": round(steady, 1) if steady else None,
            "approved_per_second": round(len(run.customers) / intake_seconds, 1) if intake_seconds else None,
            "green_to_active_p50_ms": milliseconds(percentile(latencies, 0.5)),
            "green_to_active_p95_ms": milliseconds(percentile(latencies, 0.95)),
            "step_retries": retries, "failed": run.failed, "failures": run.failures,
        },
        "one_at_a_time": {"customers": len(rest_latencies),
                          "green_to_active_p50_ms": milliseconds(percentile(rest_latencies, 0.5)),
                          "green_to_active_max_ms": milliseconds(max(rest_latencies, default=math.nan))},
        "baseline_creation": {"customers": len(baseline.customers), "seconds": round(baseline.seconds, 2),
                              "customers_per_second": round(creation_rate, 1), "failed": baseline.failed,
                              "failures": baseline.failures},
        "provisioning_over_creation": round(provisioning_rate / creation_rate, 3),
        "aim_customers_per_second": AIM_PER_SECOND,
        "stages_after_green": stages,
        "sumsub_fake_webhooks": sending,
        "jobs_done_during_provisioning": jobs,
        "host_steal_cores": round(stolen / run.seconds, 2) if run.seconds else None,
        "database_per_customer": {k: round((sessions_after[k] - sessions_before[k]) / active, 2)
                                  for k in sessions_after} if active else {},
        "jobs_per_customer": round(sum(jobs.values()) / active, 1) if active and jobs else None,
        "jobs_per_second": round(sum(jobs.values()) / run.seconds, 1) if run.seconds and jobs else None,
        "cpu_cores_busy_during_provisioning": {name: round(used / run.seconds, 2) for name, used in meter.used.items()}
        if run.seconds else {},
        "cpu_ms_per_customer": {name: round(used * 1000 / active, 1) for name, used in meter.used.items()}
        if active else {},
        "worker_idle_cores": round(idle.used.get("worker", 0.0) / baseline.seconds, 3) if baseline.seconds else None,
        "worker_cpu_ms_per_customer_idle_excluded": round(
            (meter.used.get("worker", 0.0) - idle.used.get("worker", 0.0) / baseline.seconds * run.seconds)
            * 1000 / active, 1) if active and baseline.seconds else None,
        "wall_seconds": round(time.monotonic() - began, 1),
    }


def report(results: dict[str, Any], path: Path) -> str:
    p, b, s = results["provisioning"], results["baseline_creation"], results["settings"]
    rest = results["one_at_a_time"]
    cpu, per_customer = results["cpu_cores_busy_during_provisioning"], results["cpu_ms_per_customer"]
    steady = f"{p['steady_customers_per_second']:.1f}/s" if p["steady_customers_per_second"] else "n/a"
    lines = [
        f"Provisioning: create -> KYC link -> GREEN -> active, {s['concurrency']} customers in flight; "
        f"one API process, one worker, the fakes in this process; queue on {results.get('queue_backend', 'postgres')}",
        f"  provisioned             {p['customers_active']}/{p['customers_requested']} active in {p['seconds']:.1f}s: "
        f"{p['customers_per_second']:.1f} customers/s end to end, {steady} once the pipeline is full "
        f"(aim {results['aim_customers_per_second']:g}/s)",
        f"  creation only           {b['customers']} in {b['seconds']:.1f}s: {b['customers_per_second']:.1f} "
        f"customers/s (baseline: same client, same concurrency)",
        f"  provisioning / creation {results['provisioning_over_creation']:.3f}",
        f"  GREEN -> active         p50 {p['green_to_active_p50_ms']:,.0f} ms, "
        f"p95 {p['green_to_active_p95_ms']:,.0f} ms "
        f"(approved at {p['approved_per_second']}/s, so most of it is queueing); one at a time: "
        f"p50 {rest['green_to_active_p50_ms']:,.0f} ms over {rest['customers']}",
        "  stages after GREEN, each its own duration      p50 ms   p95 ms",
    ]
    for label, figures in results["stages_after_green"].items():
        lines.append(f"    {label:<44}{figures['p50_ms']:>8,.0f}{figures['p95_ms']:>9,.0f}")
    sending = results["sumsub_fake_webhooks"]
    if sending:
        lines.append(f"  Sumsub fake's webhooks  {sending['attempts']} sent, at most {sending['in_flight']} at once, "
                     f"{sending['failed']} failed; exchange p50 {sending['exchange_p50_ms']:.1f} ms, "
                     f"p95 {sending['exchange_p95_ms']:.1f} ms: at most "
                     f"{sending['ceiling_customers_per_second']:.0f} customers/s could arrive")
    jobs = ", ".join(f"{n} {kind}" for kind, n in sorted(results["jobs_done_during_provisioning"].items(),
                                                         key=lambda item: -item[1]))
    if results["jobs_per_customer"] is None:
        lines.append("  worker jobs             not counted (SAQ keeps finished jobs in a table only on PostgreSQL)")
    else:
        lines.append(f"  worker jobs             {results['jobs_per_second']}/s, {results['jobs_per_customer']} per "
                     f"customer ({jobs})")
    if results.get("database_per_customer"):
        per = results["database_per_customer"]
        lines.append(f"  database per customer   {per['transactions']:.1f} transactions, "
                     f"{per['sessions']:.2f} connections opened")
    if cpu:
        lines.append("  CPU, cores busy         " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
                     + f" (of {results['machine']['cpus']}); taken by the host (steal) "
                     f"{results.get('host_steal_cores') or 0:.2f}")
        lines.append("  CPU ms per customer     " + ", ".join(f"{k} {v:.0f}" for k, v in per_customer.items())
                     + f" (at {results['aim_customers_per_second']:g}/s, {results['machine']['cpus']} cores allow "
                     f"{1000 * results['machine']['cpus'] / results['aim_customers_per_second']:.0f} in all)")
    if results.get("worker_cpu_ms_per_customer_idle_excluded") is not None:
        busy = results["worker_cpu_ms_per_customer_idle_excluded"]
        lines.append(f"  worker CPU per customer {busy:.0f} ms with its idle cost "
                     f"({results['worker_idle_cores']:.3f} cores while no job runs) taken out")
    lines.append(f"  failed requests         {p['failed']} provisioning, {b['failed']} creation; "
                 f"provisioning step retries {p['step_retries']}")
    for failure in p["failures"] + b["failures"]:
        lines.append(f"  failure: {failure}")
    lines.append(f"  {results['wall_seconds']:g}s in all; written to {path}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.provisioning", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200, help="customers provisioned (default 200)")
    parser.add_argument("--concurrency", type=int, default=16, help="customers in flight at once (default 16)")
    parser.add_argument("--baseline", type=int, default=400, help="customers created for the baseline (default 400)")
    parser.add_argument("--warmup", type=int, default=3, help="customers provisioned first, untimed (default 3)")
    parser.add_argument("--at-rest", type=int, default=5,
                        help="customers then provisioned one at a time, for the latency without queueing (default 5)")
    parser.add_argument("--poll-seconds", type=float, default=0.25,
                        help="the list of active customers is polled this often (default 0.25)")
    parser.add_argument("--phase-time-limit", type=float, default=45.0, help="seconds a phase may take")
    parser.add_argument("--profile-worker", metavar="OUT.prof",
                        help="run the worker under cProfile, its profile written here (slows the worker)")
    args = parser.parse_args(argv)
    if args.profile_worker:
        args.profile_worker = str(Path(args.profile_worker).resolve())  # the worker runs in the project root

    return run_benchmark(NAME, lambda log_dir: measure(args, log_dir), report)


if __name__ == "__main__":
    sys.exit(main())
