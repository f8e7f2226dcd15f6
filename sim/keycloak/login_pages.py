"""Keycloak's browser pages: the login form, the forced password change, emailed action links.

The pages are plain HTML forms; each form's action URL carries ``session_code``, ``execution``,
``client_id`` and ``tab_id`` as Keycloak's do, and the browser holds the ``AUTH_SESSION_ID`` cookie.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jwt
from litestar import Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.response import Redirect

from sim.keycloak.http import AnyRequest, RealmName, base_url_of, form_of, realm_or_404
from sim.keycloak.login import AuthenticationSession, LoginError, LoginStep, RedirectableError
from sim.keycloak.realm import Realm
from sim.keycloak.tokens import InvalidToken, issuer_of

if TYPE_CHECKING:
    from sim.keycloak.fake import KeycloakFake

__all__ = ["login_router"]

SESSION_COOKIE = "AUTH_SESSION_ID"
# Keycloak's single sign-on cookie: while its session lives, a new login to the realm skips the form;
# RP-initiated logout ends it
SSO_COOKIE = "KEYCLOAK_SESSION"
AUTHENTICATE_EXECUTION = "auth-username-password-form"


def _page(title: str, body: str, *, status: int = 200, cookies: list[Cookie] | None = None) -> Response[str]:
    document = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>"
                f"<body><h1 id=\"kc-page-title\">{html.escape(title)}</h1>{body}</body></html>")
    return Response(document, status_code=status, media_type="text/html", cookies=cookies)


def _error_block(message: str | None) -> str:
    return f'<div class="alert-error"><span id="input-error">{html.escape(message)}</span></div>' if message else ""


def _action_url(realm: str, path: str, session: AuthenticationSession, execution: str) -> str:
    query = urlencode({"session_code": session.step_code, "execution": execution,
                       "client_id": session.client_id, "tab_id": session.tab_id})
    return f"/realms/{realm}/login-actions/{path}?{query}"


def _login_form(realm: str, session: AuthenticationSession, *, error: str | None = None,
                username: str = "", cookies: list[Cookie] | None = None) -> Response[str]:
    action = _action_url(realm, "authenticate", session, AUTHENTICATE_EXECUTION)
    return _page(f"Sign in to {realm}", (
        f"{_error_block(error)}"
        f'<form id="kc-form-login" action="{html.escape(action)}" method="post">'
        f'<label for="username">Username or email</label>'
        f'<input id="username" name="username" type="text" value="{html.escape(username)}" autofocus>'
        f'<label for="password">Password</label><input id="password" name="password" type="password">'
        f'<input type="hidden" id="id-hidden-input" name="credentialId">'
        f'<input id="kc-login" name="login" type="submit" value="Sign In"></form>'
    ), status=200 if error is None else 401, cookies=cookies)


def _update_password_form(realm: str, session: AuthenticationSession, *, error: str | None = None,
                          cookies: list[Cookie] | None = None) -> Response[str]:
    action = _action_url(realm, "required-action", session, "UPDATE_PASSWORD")
    return _page("Update password", (
        '<div class="alert-warning"><span>You need to change your password to activate your account.</span></div>'
        f"{_error_block(error)}"
        f'<form id="kc-passwd-update-form" action="{html.escape(action)}" method="post">'
        f'<label for="password-new">New Password</label><input id="password-new" name="password-new" type="password">'
        f'<label for="password-confirm">Confirm password</label>'
        f'<input id="password-confirm" name="password-confirm" type="password">'
        f'<input type="submit" value="Submit"></form>'
    ), status=200 if error is None else 400, cookies=cookies)


def _error_page(message: str, status: int = 400) -> Response[str]:
    return _page("We are sorry...", f'<p id="kc-error-message" class="instruction">{html.escape(message)}</p>',
                 status=status)


def _session_cookie(realm: str, session: AuthenticationSession) -> list[Cookie]:
    return [Cookie(key=SESSION_COOKIE, value=session.id, path=f"/realms/{realm}/", httponly=True, samesite="lax")]


def _with_query(uri: str, params: dict[str, str]) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(params)}"


@get("/protocol/openid-connect/auth")
async def authorize(realm: RealmName, request: AnyRequest,
                    keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    state = realm_or_404(keycloak, realm)
    try:
        _, authorization = keycloak.logins.validate(state, dict(request.query_params))
    except LoginError as exc:
        return _error_page(str(exc))
    except RedirectableError as exc:
        params = {"error": exc.error, "error_description": exc.description}
        if exc.request.state is not None:
            params["state"] = exc.request.state
        return Redirect(_with_query(exc.request.redirect_uri, params), status_code=302)
    session = keycloak.logins.begin(state, authorization)
    signed_in = keycloak.tokens.sessions.get(request.cookies.get(SSO_COOKIE, ""))
    user = state.user(signed_in.user_id) if signed_in is not None and signed_in.active \
        and signed_in.realm == realm else None
    if signed_in is not None and user is not None and user.enabled and not user.required_actions:
        session.user_id, session.step = user.id, LoginStep.DONE
        return _redirect_with_code(state, session, request, keycloak, signed_in.id)
    return _login_form(realm, session, cookies=_session_cookie(realm, session))


def _current_session(realm: str, request: AnyRequest, keycloak: KeycloakFake) -> AuthenticationSession:
    session = keycloak.logins.find(request.cookies.get(SESSION_COOKIE), request.query_params.get("session_code"))
    if session.realm != realm or session.tab_id != request.query_params.get("tab_id"):
        raise LoginError("Action expired. Please continue with login now.")
    return session


@post("/login-actions/authenticate")
async def submit_credentials(realm: RealmName, request: AnyRequest,
                             keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    state = realm_or_404(keycloak, realm)
    try:
        session = _current_session(realm, request, keycloak)
    except LoginError as exc:
        return _error_page(str(exc))
    form = await form_of(request)
    try:
        keycloak.logins.authenticate(state, session, form.get("username", ""), form.get("password", ""))
    except LoginError as exc:
        return _login_form(realm, session, error=str(exc), username=form.get("username", ""))
    return _continue(state, session, request, keycloak)


@post("/login-actions/required-action")
async def submit_required_action(realm: RealmName, request: AnyRequest,
                                 keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    state = realm_or_404(keycloak, realm)
    try:
        session = _current_session(realm, request, keycloak)
    except LoginError as exc:
        return _error_page(str(exc))
    form = await form_of(request)
    try:
        keycloak.logins.update_password(state, session, form.get("password-new", ""),
                                        form.get("password-confirm", ""))
    except LoginError as exc:
        return _update_password_form(realm, session, error=str(exc))
    return _continue(state, session, request, keycloak)


@get("/login-actions/action-token")
async def action_token(realm: RealmName, request: AnyRequest,
                       keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    """Where an execute-actions email leads: straight to the first pending action, no login."""
    state = realm_or_404(keycloak, realm)
    expired = "Action expired. Please continue with login now."
    try:
        claims = keycloak.tokens.verify(state, request.query_params.get("key", ""),
                                        issuer=issuer_of(base_url_of(keycloak, request), realm), typ="execute-actions")
    except (InvalidToken, jwt.PyJWTError):
        return _error_page(expired)
    user = state.user(claims["sub"])
    if user is None or not user.enabled:
        return _error_page("Account is disabled, contact your administrator.")
    if not keycloak.tokens.use_once(claims["jti"]):
        return _error_page(expired)
    session = keycloak.logins.begin_actions(state, user, claims["azp"], claims.get("rqac", []), claims.get("reduri"))
    return _continue(state, session, request, keycloak, cookies=_session_cookie(realm, session))


def _continue(realm: Realm, session: AuthenticationSession, request: AnyRequest, keycloak: KeycloakFake,
              cookies: list[Cookie] | None = None) -> Response[Any]:
    if session.step is LoginStep.UPDATE_PASSWORD:
        return _update_password_form(realm.name, session, cookies=cookies)
    if session.request is None:
        # An emailed action link ends here rather than at a client.
        keycloak.logins.finish(session)
        if session.redirect_after_actions:
            return Redirect(session.redirect_after_actions, status_code=302)
        return _page("Your account has been updated.", "<p>Your account has been updated.</p>")
    user = realm.user(session.user_id or "")
    client = realm.clients[session.client_id]
    assert user is not None
    user_session = keycloak.tokens.start_session(realm, user, client)
    return _redirect_with_code(realm, session, request, keycloak, user_session.id)


def _redirect_with_code(realm: Realm, session: AuthenticationSession, request: AnyRequest, keycloak: KeycloakFake,
                        user_session_id: str) -> Response[Any]:
    assert session.request is not None
    code = keycloak.logins.issue_code(realm, session, user_session_id)
    params = {"session_state": user_session_id,
              "iss": issuer_of(base_url_of(keycloak, request), realm.name), "code": code.code}
    if session.request.state is not None:
        params = {"state": session.request.state, **params}
    sso = Cookie(key=SSO_COOKIE, value=user_session_id, path=f"/realms/{realm.name}/", httponly=True, samesite="lax")
    return Redirect(_with_query(session.request.redirect_uri, params), status_code=302, cookies=[sso])


login_router = Router("/realms/{realm:str}", route_handlers=[authorize, submit_credentials, submit_required_action,
                                                           action_token])
