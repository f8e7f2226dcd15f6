"""The browser login as Keycloak runs it: an authentication session per login attempt, the
credentials step, pending required actions, then a one-time authorization code.

Each page carries a ``session_code`` that is good for one submission (Keycloak's protection against
replayed and double-posted forms) and a ``tab_id``; the browser also holds the session cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from sim.clock import VirtualClock
from sim.keycloak.realm import UPDATE_PASSWORD, Client, Realm, User

__all__ = [
    "AuthenticationSession",
    "AuthorizationCode",
    "AuthorizationRequest",
    "LoginError",
    "LoginFlows",
    "LoginStep",
    "RedirectableError",
    "pkce_matches",
]


class LoginStep(Enum):
    CREDENTIALS = "credentials"
    UPDATE_PASSWORD = "update-password"  # noqa: S105 (a step's name, not a secret)
    DONE = "done"


class LoginError(Exception):
    """A step refused; the message is what Keycloak's login page shows."""


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    state: str | None = None
    nonce: str | None = None
    scope: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None


@dataclass
class AuthenticationSession:
    id: str
    tab_id: str
    realm: str
    client_id: str
    step_code: str
    request: AuthorizationRequest | None
    step: LoginStep = LoginStep.CREDENTIALS
    user_id: str | None = None
    # Set for a session opened from an emailed action link: it ends on an "account updated" page
    # unless the link named a redirect.
    pending_actions: list[str] = field(default_factory=list)
    redirect_after_actions: str | None = None


@dataclass
class AuthorizationCode:
    code: str
    realm: str
    client_id: str
    redirect_uri: str
    user_id: str
    session_id: str
    scope: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    used: bool = False


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        computed = verifier
    return hmac.compare_digest(computed, challenge)


class LoginFlows:
    def __init__(self, clock: VirtualClock, new_code: Callable[[], str]) -> None:
        self.clock = clock
        self._new_code = new_code
        self.sessions: dict[str, AuthenticationSession] = {}
        self.codes: dict[str, AuthorizationCode] = {}

    def reset(self) -> None:
        self.sessions.clear()
        self.codes.clear()

    def validate(self, realm: Realm, params: Mapping[str, str]) -> tuple[Client, AuthorizationRequest]:
        """Check an authorization request; ``LoginError`` for what cannot go back to the client,
        ``RedirectableError`` for what goes back to its redirect URI as ``error=...``."""
        client = realm.clients.get(params.get("client_id", ""))
        if client is None:
            raise LoginError("Client not found.")
        redirect_uri = params.get("redirect_uri", "")
        if not client.accepts_redirect(redirect_uri):
            raise LoginError("Invalid parameter: redirect_uri")
        request = AuthorizationRequest(
            client_id=client.client_id, redirect_uri=redirect_uri, state=params.get("state"),
            nonce=params.get("nonce"), scope=params.get("scope"),
            code_challenge=params.get("code_challenge") or None,
            code_challenge_method=params.get("code_challenge_method") or None,
        )
        if params.get("response_type") != "code":
            raise RedirectableError(request, "unsupported_response_type", "Client is not allowed to initiate "
                                    "browser login with given response_type. Standard flow is the only one "
                                    "supported.")
        if not client.standard_flow:
            raise RedirectableError(request, "unauthorized_client",
                                    "Client is not allowed to initiate browser login with given response_type. "
                                    "Standard flow is disabled for the client.")
        method = request.code_challenge_method
        if request.code_challenge is not None and method is None:
            request = AuthorizationRequest(**{**request.__dict__, "code_challenge_method": "plain"})
            method = "plain"
        if method is not None and method not in ("S256", "plain"):
            raise RedirectableError(request, "invalid_request", "Invalid parameter: code challenge method is "
                                    "not configured one")
        if client.pkce_method is not None:
            if request.code_challenge is None:
                raise RedirectableError(request, "invalid_request", "Missing parameter: code_challenge_method")
            if method != client.pkce_method:
                raise RedirectableError(request, "invalid_request", "Invalid parameter: code challenge method "
                                        "is not matching the configured one")
        return client, request

    def begin(self, realm: Realm, request: AuthorizationRequest) -> AuthenticationSession:
        session = AuthenticationSession(self._new_code(), self._new_code()[:11], realm.name, request.client_id,
                                        self._new_code(), request)
        self.sessions[session.id] = session
        return session

    def begin_actions(self, realm: Realm, user: User, client_id: str, actions: list[str],
                      redirect_uri: str | None) -> AuthenticationSession:
        session = AuthenticationSession(self._new_code(), self._new_code()[:11], realm.name, client_id,
                                        self._new_code(), None, user_id=user.id, pending_actions=list(actions),
                                        redirect_after_actions=redirect_uri)
        session.step = self._next_step(user, session)
        self.sessions[session.id] = session
        return session

    def find(self, session_id: str | None, step_code: str | None) -> AuthenticationSession:
        session = self.sessions.get(session_id or "")
        if session is None:
            raise LoginError("Cookie not found. Please make sure cookies are enabled in your browser.")
        if step_code != session.step_code or session.step is LoginStep.DONE:
            raise LoginError("Action expired. Please continue with login now.")
        return session

    def authenticate(self, realm: Realm, session: AuthenticationSession, username: str, password: str) -> User:
        self._expect(session, LoginStep.CREDENTIALS)
        session.step_code = self._new_code()
        user = realm.user_by_login(username.strip())
        if user is None or not user.password_matches(password):
            raise LoginError("Invalid username or password.")
        if not user.enabled:
            raise LoginError("Account is disabled, contact your administrator.")
        session.user_id = user.id
        session.step = self._next_step(user, session)
        return user

    def update_password(self, realm: Realm, session: AuthenticationSession, new: str, confirm: str) -> User:
        self._expect(session, LoginStep.UPDATE_PASSWORD)
        session.step_code = self._new_code()
        user = realm.user(session.user_id or "")
        if user is None or not user.enabled:
            raise LoginError("Account is disabled, contact your administrator.")
        if not new:
            raise LoginError("Please specify password.")
        if new != confirm:
            raise LoginError("Passwords don't match.")
        realm.set_password(user, new, temporary=False)
        if UPDATE_PASSWORD in session.pending_actions:
            session.pending_actions.remove(UPDATE_PASSWORD)
        session.step = self._next_step(user, session)
        return user

    def issue_code(self, realm: Realm, session: AuthenticationSession, user_session_id: str) -> AuthorizationCode:
        if session.request is None or session.user_id is None or session.step is not LoginStep.DONE:
            raise LoginError("The login is not finished.")
        request = session.request
        code = AuthorizationCode(
            code=self._new_code(), realm=realm.name, client_id=request.client_id, redirect_uri=request.redirect_uri,
            user_id=session.user_id, session_id=user_session_id, scope=request.scope, nonce=request.nonce,
            code_challenge=request.code_challenge, code_challenge_method=request.code_challenge_method,
            expires_at=self.clock.time() + realm.access_code_lifespan,
        )
        self.codes[code.code] = code
        del self.sessions[session.id]
        return code

    def finish(self, session: AuthenticationSession) -> None:
        self.sessions.pop(session.id, None)

    def redeem(self, realm: Realm, code_value: str) -> AuthorizationCode:
        """The code, once; a second use or an expired code is ``LookupError``."""
        code = self.codes.get(code_value)
        if code is None or code.realm != realm.name or code.used or self.clock.time() >= code.expires_at:
            raise LookupError("Code not valid")
        code.used = True
        return code

    @staticmethod
    def _expect(session: AuthenticationSession, step: LoginStep) -> None:
        if session.step is not step:
            raise LoginError("Action expired. Please continue with login now.")

    @staticmethod
    def _next_step(user: User, session: AuthenticationSession) -> LoginStep:
        if UPDATE_PASSWORD in user.required_actions or UPDATE_PASSWORD in session.pending_actions:
            return LoginStep.UPDATE_PASSWORD
        return LoginStep.DONE


class RedirectableError(Exception):
    """An authorization request error that goes back to the client's redirect URI."""

    def __init__(self, request: AuthorizationRequest, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.request = request
        self.error = error
        self.description = description
