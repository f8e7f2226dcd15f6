"""The panel's sessions: a random cookie in the browser, a row in PostgreSQL, no token anywhere.

The row is found by an HMAC of the cookie under ``ADMIN_SESSION_SECRET``, so neither the table nor
a backup of it holds a usable session. What the sign-in needs besides (the OAuth ``state`` and the
PKCE verifier) is derived from the cookie and the secret, so it is stored nowhere either. A row
records who signed in and their realm roles at that moment; it ends after ``idle`` without use,
and in any case ``lifetime`` after sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock

__all__ = ["COOKIE", "PanelSession", "PanelSessions", "admin_sessions"]

COOKIE = "admin_session"
SIGN_IN_WINDOW = timedelta(minutes=10)

admin_sessions = sa.Table(
    "admin_sessions", sa.MetaData(),
    sa.Column("id_digest", sa.LargeBinary(32), primary_key=True),
    sa.Column("subject", sa.Text()),
    sa.Column("username", sa.Text()),
    sa.Column("roles", postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column("keycloak_session_id", sa.Text()),
    sa.Column("next_path", sa.Text()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class PanelSession:
    key: str  # the cookie's value
    subject: str | None
    username: str | None
    roles: frozenset[str]
    keycloak_session_id: str | None
    next_path: str | None

    @property
    def signed_in(self) -> bool:
        return self.subject is not None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class PanelSessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secret: str, *, idle: timedelta,
                 lifetime: timedelta) -> None:
        self._sessions = sessions
        self._secret = secret.encode()
        self._idle = idle
        self._lifetime = lifetime

    def _mac(self, purpose: str, key: str) -> bytes:
        return hmac.new(self._secret, f"{purpose}:{key}".encode(), hashlib.sha256).digest()

    def _digest(self, key: str) -> bytes:
        return self._mac("session", key)

    # derived, never stored
    def csrf_token(self, key: str) -> str:
        return _b64(self._mac("csrf", key))

    def csrf_matches(self, key: str, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(self.csrf_token(key).encode(),
                                                             presented.encode("utf-8", "replace"))

    def oauth_state(self, key: str) -> str:
        return _b64(self._mac("state", key))

    def pkce_verifier(self, key: str) -> str:
        return _b64(self._mac("pkce", key))  # 43 characters of the unreserved alphabet, as RFC 7636 asks

    def pkce_challenge(self, key: str) -> str:
        return _b64(hashlib.sha256(self.pkce_verifier(key).encode()).digest())

    # lifecycle
    async def begin_sign_in(self, next_path: str) -> str:
        key = secrets.token_urlsafe(32)
        now = clock.now()
        async with self._sessions.begin() as db:
            # sign-ins abandoned, sessions run out: nobody needs them any more
            await db.execute(sa.delete(admin_sessions).where(admin_sessions.c.expires_at < now - timedelta(hours=1)))
            await db.execute(sa.insert(admin_sessions).values(
                id_digest=self._digest(key), roles=[], next_path=next_path,
                expires_at=now + SIGN_IN_WINDOW, ends_at=now + SIGN_IN_WINDOW))
        return key

    async def load(self, key: str | None) -> PanelSession | None:
        """The live session of this cookie, its idle time renewed; None when there is none."""
        if not key:
            return None
        now = clock.now()
        async with self._sessions.begin() as db:
            row = (await db.execute(
                sa.update(admin_sessions)
                .where(admin_sessions.c.id_digest == self._digest(key), admin_sessions.c.expires_at > now)
                .values(expires_at=sa.case((admin_sessions.c.subject.is_(None), admin_sessions.c.expires_at),
                                           else_=sa.func.least(now + self._idle, admin_sessions.c.ends_at)))
                .returning(admin_sessions)
            )).mappings().first()
        if row is None:
            return None
        return PanelSession(key=key, subject=row["subject"], username=row["username"], roles=frozenset(row["roles"]),
                            keycloak_session_id=row["keycloak_session_id"], next_path=row["next_path"])

    async def complete_sign_in(self, pending: PanelSession, *, subject: str, username: str, roles: frozenset[str],
                               keycloak_session_id: str | None) -> str:
        """A new key for the signed-in session (the pre-login cookie is never promoted: no fixation)."""
        key = secrets.token_urlsafe(32)
        now = clock.now()
        async with self._sessions.begin() as db:
            await db.execute(sa.delete(admin_sessions).where(admin_sessions.c.id_digest == self._digest(pending.key)))
            await db.execute(sa.insert(admin_sessions).values(
                id_digest=self._digest(key), subject=subject, username=username, roles=sorted(roles),
                keycloak_session_id=keycloak_session_id, expires_at=now + self._idle, ends_at=now + self._lifetime))
        return key

    async def end(self, key: str) -> None:
        async with self._sessions.begin() as db:
            await db.execute(sa.delete(admin_sessions).where(admin_sessions.c.id_digest == self._digest(key)))

    async def expire_all_of(self, username: str) -> int:
        """End every session of one operator (as an idle timeout would); returns how many."""
        async with self._sessions.begin() as db:
            result = await db.execute(sa.update(admin_sessions).where(admin_sessions.c.username == username)
                                      .values(expires_at=clock.now() - timedelta(seconds=1)))
        return int(result.rowcount)  # type: ignore[attr-defined]
