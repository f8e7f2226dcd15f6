"""Signing operators in and out through the admin realm: authorization code flow with PKCE (S256).

The tokens Keycloak answers with are checked (signature, issuer, expiry, the panel's own client) and
then dropped: the session keeps who signed in and their roles, never a token. Signing out ends the
panel's session and sends the browser to Keycloak's end-session endpoint, which ends Keycloak's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import structlog
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromQuery
from litestar.response import Redirect

from service.admin.access import CSRF_FIELD, Panel, safe_next_path
from service.admin.render import render
from service.admin.session import COOKIE, PanelSessions
from service.auth.audit import record_decision
from service.auth.tokens import InvalidToken, TokenVerifier, VerifiedToken

__all__ = ["sign_in_handlers"]

log = structlog.get_logger(__name__)

SIGN_IN = "ADMIN_SIGN_IN"
SIGN_OUT = "ADMIN_SIGN_OUT"
PUBLIC = {"public": True}  # reachable without a session: these pages are how one gets one


def _cookie(request: Request[Any, Any, Any], value: str, *, clear: bool = False) -> Cookie:
    # the whole site: the job queues' UI (/queues) takes the panel's session too; the API never reads it
    return Cookie(key=COOKIE, value=value, path="/", httponly=True, samesite="lax",
                  secure=request.url.scheme == "https", max_age=0 if clear else None)


def _absolute(request: Request[Any, Any, Any], path: str) -> str:
    return str(request.base_url).rstrip("/") + path


def _failed(request: Request[Any, Any, Any], message: str, status: int = 400) -> Response[str]:
    return render(request, "signed_out.html", status=status, problem=message)


def sign_in_handlers(panel: Panel) -> list[Any]:
    settings = panel.settings
    endpoints = f"{settings.admin_issuer}/protocol/openid-connect"

    @get("/login", opt=PUBLIC, include_in_schema=False)
    async def sign_in(request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Response[Any]:
        sessions = panel.sessions(request)
        key = await sessions.begin_sign_in(safe_next_path(next))
        query = urlencode({
            "client_id": settings.admin_client_id, "response_type": "code", "scope": "openid",
            "redirect_uri": _absolute(request, "/admin/auth/callback"), "state": sessions.oauth_state(key),
            "code_challenge": sessions.pkce_challenge(key), "code_challenge_method": "S256",
        })
        return Redirect(f"{endpoints}/auth?{query}", status_code=302, cookies=[_cookie(request, key)])

    @get("/auth/callback", opt=PUBLIC, include_in_schema=False)
    async def callback(request: Request[Any, Any, Any]) -> Response[Any]:
        # read by hand: ``state`` is a name Litestar keeps for the application's state
        code, state, error = (request.query_params.get(name) for name in ("code", "state", "error"))
        sessions = panel.sessions(request)
        pending = await sessions.load(request.cookies.get(COOKIE))
        if pending is None or pending.signed_in:
            # the sign-in took too long, or its cookie is gone: start again
            return Redirect("/admin/login", status_code=302)
        if error:
            return _failed(request, f"Keycloak refused the sign-in ({error}).")
        if not code or not state or state != sessions.oauth_state(pending.key):
            return _failed(request, "This sign-in answer does not belong to this browser. Sign in again.")
        verified = await _exchange(request, sessions, pending.key, code)
        if isinstance(verified, str):
            return _failed(request, verified, status=502)
        username = verified.username or verified.subject
        key = await sessions.complete_sign_in(pending, subject=verified.subject, username=username,
                                              roles=verified.realm_roles,
                                              keycloak_session_id=verified.claims.get("sid"))
        await record_decision(request.app.state.sessions, subject=username, action=SIGN_IN, object="/admin",
                              decision="allowed", request_id=request.scope.get("state", {}).get("request_id"))
        log.info("admin.signed_in", operator=username)
        return Redirect(safe_next_path(pending.next_path), status_code=302, cookies=[_cookie(request, key)])

    async def _exchange(request: Request[Any, Any, Any], sessions: PanelSessions, key: str,
                        code: str) -> VerifiedToken | str:
        """The verified access token of the code, or what to tell the operator."""
        http: httpx.AsyncClient = request.app.state.http
        try:
            response = await http.post(f"{endpoints}/token", data={
                "grant_type": "authorization_code", "code": code, "client_id": settings.admin_client_id,
                "redirect_uri": _absolute(request, "/admin/auth/callback"),
                "code_verifier": sessions.pkce_verifier(key)})
        except httpx.HTTPError as exc:
            log.warning("admin.sign_in_failed", reason=type(exc).__name__)
            return "Keycloak could not be reached. Try again in a moment."
        if response.status_code != 200:
            log.warning("admin.sign_in_failed", status=response.status_code)
            return "Keycloak did not accept the sign-in. Sign in again."
        verifier: TokenVerifier = request.app.state.operator_tokens
        try:
            verified = await verifier.verify(str(response.json().get("access_token", "")))
        except (InvalidToken, ValueError) as exc:
            log.warning("admin.sign_in_failed", reason=str(exc))
            return "The sign-in could not be verified. Sign in again."
        if verified.claims.get("azp") != settings.admin_client_id:
            return "That token was not issued to the admin panel. Sign in again."
        return verified

    @post("/logout", opt=PUBLIC, include_in_schema=False, status_code=303)
    async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
        sessions = panel.sessions(request)
        session = await sessions.load(request.cookies.get(COOKIE))
        if session is not None:
            presented = (await request.form()).get(CSRF_FIELD)
            if not sessions.csrf_matches(session.key, presented if isinstance(presented, str) else None):
                return _failed(request, "This sign-out form did not come from the panel.", status=403)
            await sessions.end(session.key)
            await record_decision(request.app.state.sessions, subject=session.username or "anonymous",
                                  action=SIGN_OUT, object="/admin", decision="allowed",
                                  request_id=request.scope.get("state", {}).get("request_id"))
        query = urlencode({"client_id": settings.admin_client_id,
                           "post_logout_redirect_uri": _absolute(request, "/admin/signed-out")})
        return Redirect(f"{endpoints}/logout?{query}", status_code=303, cookies=[_cookie(request, "", clear=True)])

    @get("/signed-out", opt=PUBLIC, include_in_schema=False)
    async def signed_out(request: Request[Any, Any, Any]) -> Response[str]:
        return render(request, "signed_out.html", problem=None)

    return [sign_in, callback, sign_out, signed_out]
