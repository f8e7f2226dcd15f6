"""The token endpoint's decisions: who the client is and which grant gives which tokens.

The rules and the error wording follow Keycloak's token endpoint, because clients branch on them
(python-keycloak re-authenticates on "Token is not active", a UI shows "Account is not fully set up").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.keycloak.login import LoginFlows, pkce_matches
from sim.keycloak.realm import Client, Realm, User
from sim.keycloak.tokens import InvalidToken, TokenError, TokenService

__all__ = ["ClientCredentials", "Grants"]

INVALID_CLIENT = "Invalid client or Invalid client credentials"
INVALID_USER_CREDENTIALS = "Invalid user credentials"

ClientCredentials = tuple[str | None, str | None]


class Grants:
    def __init__(self, tokens: TokenService, logins: LoginFlows) -> None:
        self.tokens = tokens
        self.logins = logins

    def authenticate_client(self, realm: Realm, credentials: ClientCredentials) -> Client:
        client_id, secret = credentials
        if not client_id:
            raise TokenError("invalid_client", "Missing parameter: client_id", 400)
        client = realm.clients.get(client_id)
        if client is None or not client.secret_matches(secret):
            raise TokenError("invalid_client", INVALID_CLIENT, 401)
        return client

    def token(self, realm: Realm, form: Mapping[str, str], credentials: ClientCredentials, *,
              issuer: str) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise TokenError("invalid_request", "Missing form parameter: grant_type")
        handler = {
            "password": self._password,
            "client_credentials": self._client_credentials,
            "authorization_code": self._authorization_code,
            "refresh_token": self._refresh_token,
        }.get(grant_type)
        if handler is None:
            raise TokenError("unsupported_grant_type", "Unsupported grant_type")
        client = self.authenticate_client(realm, credentials)
        return handler(realm, client, form, issuer)

    def logout(self, realm: Realm, form: Mapping[str, str], credentials: ClientCredentials, *, issuer: str) -> None:
        client = self.authenticate_client(realm, credentials)
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise TokenError("invalid_request", "refresh_token not found")
        claims = self._verified_refresh(realm, client, refresh_token, issuer)
        self.tokens.end_session(claims["sid"])

    # grants
    def _password(self, realm: Realm, client: Client, form: Mapping[str, str], issuer: str) -> dict[str, Any]:
        if not client.direct_access_grants:
            raise TokenError("unauthorized_client", "Client not allowed for direct access grants")
        user = realm.user_by_login(form.get("username", ""))
        if user is None:
            raise TokenError("invalid_grant", INVALID_USER_CREDENTIALS, 401)
        # Keycloak's direct grant checks "enabled" before the password.
        if not user.enabled:
            raise TokenError("invalid_grant", "Account disabled")
        if not user.password_matches(form.get("password", "")):
            raise TokenError("invalid_grant", INVALID_USER_CREDENTIALS, 401)
        if user.required_actions:
            raise TokenError("invalid_grant", "Account is not fully set up")
        session = self.tokens.start_session(realm, user, client)
        return self.tokens.grant(realm, user, client, issuer=issuer, requested_scope=form.get("scope"),
                                 session=session)

    def _client_credentials(self, realm: Realm, client: Client, form: Mapping[str, str],
                            issuer: str) -> dict[str, Any]:
        if client.public:
            raise TokenError("unauthorized_client", "Public client not allowed to retrieve service account", 401)
        if not client.service_accounts:
            raise TokenError("unauthorized_client", "Client not enabled to retrieve service account", 401)
        account = realm.service_account(client)
        if not account.enabled:
            raise TokenError("invalid_request", f"User '{account.username}' disabled")
        return self.tokens.grant(realm, account, client, issuer=issuer, requested_scope=form.get("scope"),
                                 session=None)

    def _authorization_code(self, realm: Realm, client: Client, form: Mapping[str, str],
                            issuer: str) -> dict[str, Any]:
        code_value = form.get("code")
        if not code_value:
            raise TokenError("invalid_request", "Missing parameter: code")
        try:
            code = self.logins.redeem(realm, code_value)
        except LookupError:
            raise TokenError("invalid_grant", "Code not valid") from None
        if code.client_id != client.client_id:
            raise TokenError("invalid_grant", "Auth error")
        if form.get("redirect_uri") != code.redirect_uri:
            raise TokenError("invalid_grant", "Incorrect redirect_uri")
        if code.code_challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                raise TokenError("invalid_grant", "PKCE code verifier not specified")
            if not pkce_matches(verifier, code.code_challenge, code.code_challenge_method or "plain"):
                raise TokenError("invalid_grant", "PKCE verification failed: Code mismatch")
        user = self._active_user(realm, code.user_id)
        session = self.tokens.sessions.get(code.session_id)
        if session is None or not session.active:
            raise TokenError("invalid_grant", "Session not active")
        return self.tokens.grant(realm, user, client, issuer=issuer, requested_scope=code.scope,
                                 session=session, nonce=code.nonce)

    def _refresh_token(self, realm: Realm, client: Client, form: Mapping[str, str], issuer: str) -> dict[str, Any]:
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise TokenError("invalid_request", "Missing parameter: refresh_token")
        claims = self._verified_refresh(realm, client, refresh_token, issuer)
        user = self._active_user(realm, claims["sub"])
        session = self.tokens.sessions[claims["sid"]]
        session.last_refresh = self.tokens.now()
        return self.tokens.grant(realm, user, client, issuer=issuer, requested_scope=claims.get("scope"),
                                 session=session)

    def _verified_refresh(self, realm: Realm, client: Client, token: str, issuer: str) -> dict[str, Any]:
        try:
            claims = self.tokens.verify(realm, token, issuer=issuer, typ="Refresh")
        except InvalidToken as exc:
            message = str(exc)
            if message not in ("Token is not active", "Session not active"):
                message = "Invalid refresh token"
            raise TokenError("invalid_grant", message) from None
        if claims.get("azp") != client.client_id:
            raise TokenError("invalid_grant", "Invalid refresh token. Token client and authorized client don't match")
        return claims

    @staticmethod
    def _active_user(realm: Realm, user_id: str) -> User:
        user = realm.user(user_id)
        if user is None:
            raise TokenError("invalid_grant", "User not found")
        if not user.enabled:
            raise TokenError("invalid_grant", "User disabled")
        return user
