"""Route guards: who is calling, and may they do this. Every decision is audited.

Each operator route names its permission with ``guards=[requires(Permission.X)]``; a test walks
the app's routes and fails on any that states none. A guard makes the whole decision (token,
permission, and for customers whether the login is an active customer's) before it writes the
audit record, so the record is the request's final answer, never an "allowed" that a handler
then turns into a refusal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.auth.audit import record_decision
from service.auth.permissions import Permission, RolePermissions
from service.auth.tokens import InvalidToken, TokenVerifier, VerifiedToken
from service.problems import Problem

__all__ = ["ANONYMOUS", "CUSTOMER_SELF", "Admission", "Guard", "NotAdmitted", "bearer_token", "current_customer",
           "current_operator", "requires", "requires_customer"]

log = structlog.get_logger(__name__)

ANONYMOUS = "anonymous"

Guard = Any  # Litestar's guard signature: (connection, route_handler) -> None


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthenticated(detail: str) -> Problem:
    return Problem(401, "unauthenticated", detail,
                   headers={"WWW-Authenticate": 'Bearer realm="operators", error="invalid_token"'})


def requires(permission: Permission) -> Guard:
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        state = connection.app.state
        sessions = state.sessions
        verifier: TokenVerifier = state.operator_tokens
        role_permissions: RolePermissions = state.role_permissions
        request_id = connection.scope.get("state", {}).get("request_id")
        target = connection.url.path
        token = bearer_token(connection)

        async def decide(subject: str, decision: Any, reason: str | None) -> None:
            await record_decision(sessions, subject=subject, action=permission.value, object=target,
                                  decision=decision, reason=reason, request_id=request_id)
            log.info("authz.decision", subject=subject, action=permission.value, object=target, decision=decision,
                     reason=reason)

        if token is None:
            await decide(ANONYMOUS, "denied", "no bearer token")
            raise _unauthenticated("a bearer token from the operators' realm is required")
        try:
            operator = await verifier.verify(token)
        except InvalidToken as exc:
            await decide(exc.subject or ANONYMOUS, "denied", str(exc))
            raise _unauthenticated(f"the bearer token was refused: {exc}") from exc
        subject = operator.username or operator.subject
        if permission not in role_permissions.granted(operator.realm_roles):
            await decide(subject, "denied", "missing permission")
            raise Problem(403, "forbidden", f"{permission.value} is required", permission=permission.value)
        await decide(subject, "allowed", None)
        connection.scope.setdefault("state", {})["operator"] = operator

    guard.permission = permission  # type: ignore[attr-defined]  # read by the route audit test
    return guard


CUSTOMER_SELF = "CUSTOMER_SELF"


class NotAdmitted(Exception):
    """A genuine customer-realm login that may not use the route (403); ``code`` is the problem's."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# Who the login is for the route (for the portal: the customer's id), or NotAdmitted.
Admission = Callable[[async_sessionmaker[AsyncSession], VerifiedToken], Awaitable[Any]]


def requires_customer(admit: Admission) -> Guard:
    """A person's token from the customer realm, issued to the portal client, whose login ``admit``
    accepts: the customer acts on their own data only."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        state = connection.app.state
        verifier: TokenVerifier = state.customer_tokens
        request_id = connection.scope.get("state", {}).get("request_id")
        token = bearer_token(connection)
        subject, reason, refusal, admitted = ANONYMOUS, None, None, None
        try:
            if token is None:
                reason = "no bearer token"
            else:
                login = await verifier.verify(token)
                subject = login.username or login.subject
                admitted = await admit(state.sessions, login)
        except InvalidToken as exc:
            subject, reason = exc.subject or ANONYMOUS, str(exc)
        except NotAdmitted as exc:
            reason, refusal = exc.detail, exc
        await record_decision(state.sessions, subject=subject, action=CUSTOMER_SELF, object=connection.url.path,
                              decision="denied" if reason else "allowed", reason=reason, request_id=request_id)
        log.info("authz.decision", subject=subject, action=CUSTOMER_SELF, object=connection.url.path,
                 decision="denied" if reason else "allowed", reason=reason)
        if refusal is not None:
            raise Problem(403, refusal.code, refusal.detail)
        if reason:
            raise Problem(401, "unauthenticated", f"a bearer token from the customers' realm is required: {reason}",
                          headers={"WWW-Authenticate": 'Bearer realm="customers", error="invalid_token"'})
        connection.scope.setdefault("state", {})["customer"] = admitted

    guard.permission = CUSTOMER_SELF  # type: ignore[attr-defined]
    return guard


def current_customer(connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
    """What the route's admission made of the login (for the portal: the customer's id)."""
    return connection.scope["state"]["customer"]


def current_operator(connection: ASGIConnection[Any, Any, Any, Any]) -> VerifiedToken:
    return connection.scope["state"]["operator"]  # type: ignore[no-any-return]
