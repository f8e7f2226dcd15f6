"""Who is using the panel, and may they do this: the panel's guard, audited like the API's.

Every page and action names its permission with ``panel.requires(Permission.X)``, the same
permission as its twin in the JSON API. The guard finds the session from its cookie (none, or
expired: back through sign-in, then to the page asked for), refuses a state-changing request
without the session's CSRF token, checks the permission against the realm roles the operator
signed in with, and writes the decision to the audit log either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import structlog
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from service.admin.session import COOKIE, PanelSession, PanelSessions
from service.auth.audit import record_decision
from service.auth.guards import ANONYMOUS, Guard
from service.auth.permissions import Permission, RolePermissions
from service.settings import Settings

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "Operator", "Panel", "PanelForbidden", "PanelNotConfigured", "SignInRequired",
           "current_operator", "safe_next_path"]

log = structlog.get_logger(__name__)

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


class PanelForbidden(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PanelNotConfigured(Exception):
    """No ADMIN_SESSION_SECRET: the panel cannot keep sessions."""


@dataclass(frozen=True)
class Operator:
    """The signed-in operator, as the pages see them."""

    session: PanelSession
    username: str
    permissions: frozenset[Permission]
    csrf_token: str

    def may(self, permission: Permission | str) -> bool:
        return Permission(permission) in self.permissions


def safe_next_path(raw: str | None) -> str:
    """Only a path of the panel (or the job queues' UI it links to): an open redirect would hand the
    sign-in to another site."""
    if raw:
        parts = urlsplit(raw)
        if not parts.scheme and not parts.netloc and parts.path.startswith(("/admin", "/queues/")) \
                and "\\" not in raw:
            return raw
    return "/admin/customers"


def _page_asked_for(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Where to come back to after signing in: the page itself, not the fragment a poll asked for."""
    current = connection.headers.get("hx-current-url")
    if current:
        parts = urlsplit(current)
        return safe_next_path(parts.path + (f"?{parts.query}" if parts.query else ""))
    if connection.scope.get("method", "GET") in SAFE_METHODS:
        query = connection.scope.get("query_string", b"").decode("latin-1")
        return safe_next_path(connection.url.path + (f"?{query}" if query else ""))
    return safe_next_path(urlsplit(connection.headers.get("referer", "")).path)


class Panel:
    """The panel's settings and the guard that every page and action goes through."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def sessions(self, connection: ASGIConnection[Any, Any, Any, Any]) -> PanelSessions:
        secret = self.settings.admin_session_secret
        if not secret:
            raise PanelNotConfigured("ADMIN_SESSION_SECRET is not set: the admin panel cannot keep sessions")
        return PanelSessions(connection.app.state.sessions, secret,
                             idle=timedelta(minutes=self.settings.admin_session_idle_minutes),
                             lifetime=timedelta(hours=self.settings.admin_session_max_hours))

    def sign_in_url(self, next_path: str) -> str:
        return "/admin/login?" + urlencode({"next": next_path})

    def requires(self, permission: Permission) -> Guard:
        async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
            state = connection.app.state
            request_id = connection.scope.get("state", {}).get("request_id")
            target = connection.url.path

            async def decide(subject: str, decision: Any, reason: str | None) -> None:
                await record_decision(state.sessions, subject=subject, action=permission.value, object=target,
                                      decision=decision, reason=reason, request_id=request_id)
                log.info("authz.decision", subject=subject, action=permission.value, object=target,
                         decision=decision, reason=reason, via="admin panel")

            sessions = self.sessions(connection)
            session = await sessions.load(connection.cookies.get(COOKIE))
            if session is None or not session.signed_in:
                await decide(ANONYMOUS, "denied", "no panel session")
                raise SignInRequired(_page_asked_for(connection))
            username = session.username or session.subject or ANONYMOUS
            if connection.scope.get("method") not in SAFE_METHODS:
                presented = connection.headers.get(CSRF_HEADER)
                if presented is None and isinstance(connection, Request):
                    presented = (await connection.form()).get(CSRF_FIELD)
                if not sessions.csrf_matches(session.key, presented if isinstance(presented, str) else None):
                    await decide(username, "denied", "missing or wrong CSRF token")
                    raise PanelForbidden("This form has expired or did not come from the panel. "
                                         "Reload the page and try again.")
            role_permissions: RolePermissions = state.role_permissions
            granted = role_permissions.granted(session.roles)
            if permission not in granted:
                await decide(username, "denied", "missing permission")
                raise PanelForbidden(f"Your role does not allow this ({permission.value} is required).")
            await decide(username, "allowed", None)
            connection.scope.setdefault("state", {})["operator"] = Operator(
                session=session, username=username, permissions=granted,
                csrf_token=sessions.csrf_token(session.key))

        guard.permission = permission  # type: ignore[attr-defined]  # read by the route audit test
        return guard


def current_operator(connection: ASGIConnection[Any, Any, Any, Any]) -> Operator:
    return connection.scope["state"]["operator"]  # type: ignore[no-any-return]
