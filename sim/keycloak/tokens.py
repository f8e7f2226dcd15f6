"""Issuing and checking tokens the way Keycloak does, on the virtual clock.

Access, refresh and ID tokens are RS256 JWTs signed by the realm key. Every token's ``jti`` is
remembered, so ``revoke_all`` can make every token issued so far inactive at once.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from sim.clock import VirtualClock
from sim.keycloak.realm import Client, Realm, User

__all__ = ["InvalidToken", "TokenError", "TokenService", "UserSession", "issuer_of"]

DEFAULT_SCOPES = ("profile", "email")


class TokenError(Exception):
    """An OAuth error answer: ``{"error": ..., "error_description": ...}`` with ``status``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidToken(Exception):
    """A bearer or refresh token that must not be honoured; the message is Keycloak's wording."""


@dataclass
class UserSession:
    id: str
    realm: str
    user_id: str
    client_id: str
    started: int
    last_refresh: int
    active: bool = True


def issuer_of(base_url: str, realm_name: str) -> str:
    return f"{base_url}realms/{realm_name}"


def _realm_of_issuer(issuer: str) -> str | None:
    _, found, realm = issuer.rpartition("/realms/")
    return realm if found and realm else None


def _scope(requested: str | None, *, openid_allowed: bool) -> str:
    scopes = [s for s in (requested or "").split() if s]
    granted = (["openid"] if openid_allowed and "openid" in scopes else []) + list(DEFAULT_SCOPES)
    return " ".join(granted)


class TokenService:
    def __init__(self, clock: VirtualClock, new_id: Callable[[], str]) -> None:
        self.clock = clock
        self._new_id = new_id
        self.sessions: dict[str, UserSession] = {}
        self._issued: set[str] = set()
        self._revoked: set[str] = set()
        self._used_once: set[str] = set()

    def now(self) -> int:
        return int(self.clock.time())

    # sessions
    def start_session(self, realm: Realm, user: User, client: Client) -> UserSession:
        now = self.now()
        session = UserSession(self._new_id(), realm.name, user.id, client.client_id, now, now)
        self.sessions[session.id] = session
        return session

    def end_session(self, session_id: str) -> None:
        session = self.sessions.get(session_id)
        if session is not None:
            session.active = False

    def revoke_all(self) -> None:
        self._revoked |= self._issued

    def reset(self) -> None:
        self.sessions.clear()
        self._issued.clear()
        self._revoked.clear()
        self._used_once.clear()

    # issuing
    def access_token(self, realm: Realm, user: User, client: Client, *, issuer: str, scope: str,
                     session: UserSession | None = None, expires_in: int | None = None,
                     extra_claims: Mapping[str, Any] | None = None) -> str:
        now = self.now()
        lifetime = realm.access_token_lifespan if expires_in is None else expires_in
        resource_access = {name: {"roles": sorted(roles)} for name, roles in sorted(user.client_roles.items()) if roles}
        audiences = [name for name in resource_access if name != client.client_id]
        audiences += [name for name in client.audiences if name not in audiences]
        claims: dict[str, Any] = {
            "exp": now + lifetime,
            "iat": now,
            "jti": self._remember(self._new_id()),
            "iss": issuer,
            "aud": audiences[0] if len(audiences) == 1 else audiences,
            "sub": user.id,
            "typ": "Bearer",
            "azp": client.client_id,
        }
        if not audiences:
            del claims["aud"]
        if session is not None:
            claims["sid"] = session.id
        claims |= {
            "acr": "1",
            "realm_access": {"roles": sorted(user.realm_roles)},
            "resource_access": resource_access,
            "scope": scope,
            **self.profile_claims(user),
        }
        if user.is_service_account:
            claims["client_id"] = client.client_id
        if extra_claims:
            claims |= dict(extra_claims)
        return realm.key.sign(claims)

    def refresh_token(self, realm: Realm, user: User, client: Client, *, issuer: str, scope: str,
                      session: UserSession) -> str:
        now = self.now()
        claims = {
            "exp": now + realm.sso_session_idle_timeout,
            "iat": now,
            "jti": self._remember(self._new_id()),
            "iss": issuer,
            "aud": issuer,
            "sub": user.id,
            "typ": "Refresh",
            "azp": client.client_id,
            "sid": session.id,
            "scope": scope,
        }
        return realm.key.sign(claims)

    def id_token(self, realm: Realm, user: User, client: Client, *, issuer: str, session: UserSession,
                 access_token: str, nonce: str | None) -> str:
        now = self.now()
        digest = hashlib.sha256(access_token.encode()).digest()
        claims: dict[str, Any] = {
            "exp": now + realm.access_token_lifespan,
            "iat": now,
            "auth_time": session.started,
            "jti": self._remember(self._new_id()),
            "iss": issuer,
            "aud": client.client_id,
            "sub": user.id,
            "typ": "ID",
            "azp": client.client_id,
            "sid": session.id,
            "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
            "acr": "1",
            **self.profile_claims(user),
        }
        if nonce:
            claims["nonce"] = nonce
        return realm.key.sign(claims)

    def grant(self, realm: Realm, user: User, client: Client, *, issuer: str, requested_scope: str | None,
              session: UserSession | None, nonce: str | None = None) -> dict[str, Any]:
        """The token endpoint's answer: with a session (a person logged in) it carries a refresh
        token and, when ``openid`` was asked for, an ID token; without one (client credentials) not."""
        scope = _scope(requested_scope, openid_allowed=session is not None)
        access = self.access_token(realm, user, client, issuer=issuer, scope=scope, session=session)
        answer: dict[str, Any] = {
            "access_token": access,
            "expires_in": realm.access_token_lifespan,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
        }
        if session is not None:
            answer["refresh_expires_in"] = realm.sso_session_idle_timeout
            answer["refresh_token"] = self.refresh_token(realm, user, client, issuer=issuer, scope=scope,
                                                         session=session)
            if "openid" in scope.split():
                answer["id_token"] = self.id_token(realm, user, client, issuer=issuer, session=session,
                                                   access_token=access, nonce=nonce)
        answer["not-before-policy"] = 0
        if session is not None:
            answer["session_state"] = session.id
        answer["scope"] = scope
        return answer

    def action_token(self, realm: Realm, user: User, *, issuer: str, client_id: str, actions: list[str],
                     lifespan: int, redirect_uri: str | None) -> str:
        """The key of an emailed "execute actions" link; good once, until ``lifespan`` runs out."""
        now = self.now()
        claims: dict[str, Any] = {
            "exp": now + lifespan,
            "iat": now,
            "jti": self._remember(self._new_id()),
            "iss": issuer,
            "aud": issuer,
            "sub": user.id,
            "typ": "execute-actions",
            "azp": client_id,
            "rqac": list(actions),
        }
        if redirect_uri:
            claims["reduri"] = redirect_uri
        return realm.key.sign(claims)

    def use_once(self, jti: str) -> bool:
        """True the first time a single-use token is presented, False after."""
        if jti in self._used_once:
            return False
        self._used_once.add(jti)
        return True

    # checking
    def verify(self, realm: Realm, token: str, *, issuer: str, typ: str) -> dict[str, Any]:
        """Claims of a token this realm issued, still valid on the clock; raises ``InvalidToken``."""
        try:
            claims = realm.key.verify(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("Invalid token") from exc
        if claims.get("typ") != typ:
            raise InvalidToken("Invalid token type")
        if claims.get("iss") != issuer:
            raise InvalidToken("Invalid token issuer")
        if claims.get("jti") in self._revoked or self.now() >= int(claims.get("exp", 0)):
            raise InvalidToken("Token is not active")
        session_id = claims.get("sid")
        if session_id is not None:
            session = self.sessions.get(session_id)
            if session is None or not session.active:
                raise InvalidToken("Session not active")
        return claims

    @staticmethod
    def realm_named_in(token: str) -> str | None:
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            return None
        return _realm_of_issuer(issuer) if isinstance(issuer, str) else None

    def _remember(self, jti: str) -> str:
        self._issued.add(jti)
        return jti

    @staticmethod
    def profile_claims(user: User) -> dict[str, Any]:
        claims: dict[str, Any] = {"email_verified": user.email_verified}
        full_name = " ".join(part for part in (user.first_name, user.last_name) if part)
        if full_name:
            claims["name"] = full_name
        claims["preferred_username"] = user.username
        if user.first_name:
            claims["given_name"] = user.first_name
        if user.last_name:
            claims["family_name"] = user.last_name
        if user.email:
            claims["email"] = user.email
        return claims

