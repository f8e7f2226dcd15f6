"""OpenID Connect endpoints of a realm: discovery, JWKS, token, userinfo and logout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from litestar import Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.response import Redirect

from sim.keycloak.http import (
    AnyRequest,
    RealmName,
    base_url_of,
    client_credentials,
    form_of,
    json_response,
    oauth_error,
    realm_or_404,
)
from sim.keycloak.login_pages import SSO_COOKIE
from sim.keycloak.tokens import InvalidToken, TokenError, issuer_of

if TYPE_CHECKING:
    from sim.keycloak.fake import KeycloakFake

__all__ = ["oidc_router"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@get("/.well-known/openid-configuration")
async def discovery(realm: RealmName, request: AnyRequest,
                    keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    realm_or_404(keycloak, realm)
    issuer = issuer_of(base_url_of(keycloak, request), realm)
    endpoints = f"{issuer}/protocol/openid-connect"
    return json_response({
        "issuer": issuer,
        "authorization_endpoint": f"{endpoints}/auth",
        "token_endpoint": f"{endpoints}/token",
        "introspection_endpoint": f"{endpoints}/token/introspect",
        "userinfo_endpoint": f"{endpoints}/userinfo",
        "end_session_endpoint": f"{endpoints}/logout",
        "jwks_uri": f"{endpoints}/certs",
        "grant_types_supported": ["authorization_code", "client_credentials", "password", "refresh_token"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": ["aud", "sub", "iss", "auth_time", "name", "given_name", "family_name",
                             "preferred_username", "email", "email_verified", "acr"],
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
    })


@get("/protocol/openid-connect/certs")
async def certs(realm: RealmName, keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    return json_response({"keys": [realm_or_404(keycloak, realm).key.jwk()]})


@post("/protocol/openid-connect/token")
async def token(realm: RealmName, request: AnyRequest,
                keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    state = realm_or_404(keycloak, realm)
    form = await form_of(request)
    try:
        answer = keycloak.grants.token(state, form, client_credentials(request, form),
                                       issuer=issuer_of(base_url_of(keycloak, request), realm))
    except TokenError as error:
        return oauth_error(error)
    return json_response(answer, headers=NO_STORE)


@get("/protocol/openid-connect/userinfo")
async def userinfo(realm: RealmName, request: AnyRequest,
                   keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    state = realm_or_404(keycloak, realm)
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not bearer:
        return _invalid_token("Token not provided")
    try:
        claims = keycloak.tokens.verify(state, bearer, issuer=issuer_of(base_url_of(keycloak, request), realm),
                                        typ="Bearer")
    except InvalidToken:
        return _invalid_token("Token verification failed")
    user = state.user(claims["sub"])
    if user is None or not user.enabled:
        return _invalid_token("User not found")
    info = {"sub": user.id, **keycloak.tokens.profile_claims(user)}
    return json_response(info)


def _invalid_token(description: str) -> Response[bytes]:
    challenge = f'Bearer realm="keycloak", error="invalid_token", error_description="{description}"'
    return json_response({"error": "invalid_token", "error_description": description}, 401,
                         {"WWW-Authenticate": challenge})


@post("/protocol/openid-connect/logout")
async def logout(realm: RealmName, request: AnyRequest,
                 keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    state = realm_or_404(keycloak, realm)
    form = await form_of(request)
    if "refresh_token" not in form:
        return _browser_logout(realm, request, keycloak, form)
    try:
        keycloak.grants.logout(state, form, client_credentials(request, form),
                               issuer=issuer_of(base_url_of(keycloak, request), realm))
    except TokenError as error:
        return oauth_error(error)
    return Response(None, status_code=204)


@get("/protocol/openid-connect/logout")
async def browser_logout(realm: RealmName, request: AnyRequest,
                         keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    realm_or_404(keycloak, realm)
    return _browser_logout(realm, request, keycloak, dict(request.query_params))


def _browser_logout(realm: str, request: AnyRequest, keycloak: KeycloakFake,
                    params: dict[str, str]) -> Response[Any]:
    """RP-initiated logout: ends the session named by ``id_token_hint`` and goes back to the app."""
    state = keycloak.realms[realm]
    client_id = params.get("client_id", "")
    signed_in = request.cookies.get(SSO_COOKIE)
    if signed_in:
        keycloak.tokens.end_session(signed_in)
    ended = [Cookie(key=SSO_COOKIE, value="", path=f"/realms/{realm}/", max_age=0, httponly=True, samesite="lax")]
    hint = params.get("id_token_hint")
    if hint:
        try:
            claims = keycloak.tokens.verify(state, hint, issuer=issuer_of(base_url_of(keycloak, request), realm),
                                            typ="ID")
        except InvalidToken:
            claims = {}
        if "sid" in claims:
            keycloak.tokens.end_session(claims["sid"])
        client_id = client_id or claims.get("azp", "")
    target = params.get("post_logout_redirect_uri")
    client = state.clients.get(client_id)
    if target and client is not None and client.accepts_redirect(target):
        query = urlencode({"state": params["state"]}) if params.get("state") else ""
        return Redirect(f"{target}{'&' if '?' in target else '?'}{query}" if query else target, status_code=302,
                        cookies=ended)
    return Response("<html><body><p>You are logged out</p></body></html>", media_type="text/html", cookies=ended)


oidc_router = Router("/realms/{realm:str}", route_handlers=[discovery, certs, token, userinfo, logout,
                                                          browser_logout])
