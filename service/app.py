"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
from litestar import Litestar
from litestar.static_files import create_static_files_router

from service.admin import admin_router
from service.auth.controller import audit_log
from service.auth.permissions import RolePermissions
from service.auth.tokens import AcceptedTokens, JwksCache, TokenVerifier
from service.cli import ServiceCommands
from service.customers.controller import CustomerController
from service.customers.domain import InvalidCustomerField
from service.customers.repository import CustomerNotFound, DuplicateCustomer
from service.db.engine import create_engine, libpq_url, migrate, resolve_database_url, session_factory
from service.db.pool import OnDemandPool
from service.dependencies import dependencies
from service.health import live, ready
from service.kyc.controller import KycController
from service.kyc.inbox import InboxWriter
from service.kyc.sumsub import SumsubClient
from service.kyc.webhook import sumsub_webhook
from service.ledger.controller import DepositAccountController
from service.logging import configure_logging, request_id_middleware
from service.nul_bytes import refuse_nul_bytes
from service.openapi import STATIC_DIR, STATIC_PATH, docs_security_headers, openapi_config
from service.portal import portal_me
from service.problems import Problem, exception_handlers, problem_response
from service.queue import create_queue, queue_backend
from service.queue_monitor import queue_monitor
from service.runtime import settle_after_start
from service.settings import Settings, load_settings

__all__ = ["create_app"]

log = structlog.get_logger(__name__)


def _domain_problems() -> dict[Any, Any]:
    return {
        InvalidCustomerField: lambda request, exc: problem_response(
            request, Problem(422, "invalid_input", str(exc), field=exc.field)),
        DuplicateCustomer: lambda request, exc: problem_response(
            request, Problem(409, f"duplicate_{exc.field}", str(exc), field=exc.field)),
        CustomerNotFound: lambda request, exc: problem_response(
            request, Problem(404, "customer_not_found", str(exc))),
    }


def _verifier(issuer: str, http: httpx.AsyncClient, settings: Settings, accepts: AcceptedTokens) -> TokenVerifier:
    jwks = JwksCache(f"{issuer}/protocol/openid-connect/certs", http, max_age=settings.jwks_cache_seconds)
    return TokenVerifier(issuer, jwks, accepts)


def create_app(settings: Settings | None = None, *, migrate_on_start: bool | None = None,
               own_process: bool = False) -> Litestar:
    """The service. ``migrate_on_start`` defaults to True on the embedded database only:
    production runs ``python -m service migrate`` as its own step. ``own_process``: the app is all
    its process serves (a server's entry point), so the collector is settled once it has started
    (``service.runtime``); never in a host program such as the sandbox or the tests."""
    settings = settings or load_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    role_permissions = RolePermissions(settings.role_permissions)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        database_url, embedded = await resolve_database_url(settings)
        if migrate_on_start if migrate_on_start is not None else embedded:
            await migrate(database_url)
        engine = create_engine(database_url, settings.database_pool_size)
        # the webhook's single INSERT goes straight to psycopg (connections are made on demand)
        intake_pool = OnDemandPool(libpq_url(database_url), max_size=settings.database_pool_size)
        http = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        queue = create_queue(settings, database_url)
        await queue.connect()
        app.state.sessions = session_factory(engine)
        app.state.inbox = InboxWriter(intake_pool)
        app.state.queue = queue
        app.state.http = http
        app.state.operator_tokens = _verifier(settings.admin_issuer, http, settings, AcceptedTokens(
            frozenset(settings.operator_client_ids), audience=settings.service_audience))
        app.state.customer_tokens = _verifier(settings.customer_issuer, http, settings, AcceptedTokens(
            frozenset({settings.portal_client_id}), service_accounts=False))
        app.state.role_permissions = role_permissions
        app.state.sumsub = (
            SumsubClient(settings.sumsub_url, settings.sumsub_app_token, settings.sumsub_secret_key, http=http)
            if settings.sumsub_app_token and settings.sumsub_secret_key else None
        )
        if own_process:
            settle_after_start()
        log.info("service.started", embedded_database=embedded, queue=queue_backend(settings))
        try:
            yield
        finally:
            await queue.disconnect()
            await app.state.inbox.close()
            await intake_pool.close()
            await http.aclose()
            await engine.dispose()

    app = Litestar(
        route_handlers=[CustomerController, KycController, DepositAccountController, audit_log, sumsub_webhook,
                        portal_me, live, ready, queue_monitor(settings), admin_router(settings),
                        create_static_files_router(STATIC_PATH, [STATIC_DIR], include_in_schema=False,
                                                   opt={"public": True})],
        lifespan=[lifespan],
        dependencies=dependencies(settings),
        exception_handlers={**exception_handlers, **_domain_problems()},
        openapi_config=openapi_config(settings),
        plugins=[ServiceCommands(settings)],
        debug=False,
        logging_config=None,  # structlog, configured above, owns the output
    )
    # outside routing, so that every answer, a 404 for an unknown path too, carries a request id
    app.asgi_handler = request_id_middleware(refuse_nul_bytes(app.asgi_handler),
                                             headers_for={"/schema": docs_security_headers(settings)})
    return app
