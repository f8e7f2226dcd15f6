"""Logging in to the customer portal the way a person does: Keycloak's login page, with PKCE.

The portal is a public client, so it never sees a password grant in production: the customer is
sent to Keycloak's login form, changes a temporary password when Keycloak asks, and comes back
with a code that the portal exchanges (with its PKCE verifier) for tokens.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

__all__ = ["LoginFailed", "PortalLogin", "log_in_through_login_page"]

_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"', re.IGNORECASE)
REDIRECT_URI = "http://127.0.0.1:5173/callback"


class LoginFailed(Exception):
    """The login page did not let the customer in; the message quotes what it showed."""


@dataclass(frozen=True)
class PortalLogin:
    access_token: str
    refresh_token: str | None
    changed_password: bool
    tokens: dict[str, Any]


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _action(page: httpx.Response) -> str:
    found = _FORM_ACTION.search(page.text)
    if found is None:
        raise LoginFailed(f"expected a form, the page said: {_visible_text(page.text)[:300]}")
    return str(page.url.join(html.unescape(found.group(1))))


def _visible_text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def log_in_through_login_page(keycloak_url: str, realm: str, client_id: str, username: str, password: str,
                                    *, new_password: str | None = None,
                                    redirect_uri: str = REDIRECT_URI) -> PortalLogin:
    """Sign in at the login page; when Keycloak asks for a new password, give ``new_password``."""
    base = keycloak_url.rstrip("/") + f"/realms/{realm}/protocol/openid-connect"
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(8)
    changed = False
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as browser:
        page = await browser.get(f"{base}/auth", params={
            "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid",
            "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
        page = await browser.post(_action(page), data={"username": username, "password": password})
        if page.status_code == 200 and 'name="password-new"' in page.text:
            if new_password is None:
                raise LoginFailed("Keycloak asks for a new password and none was given")
            page = await browser.post(_action(page), data={"password-new": new_password,
                                                           "password-confirm": new_password})
            changed = True
        if page.status_code != 302:
            raise LoginFailed(f"the login page said: {_visible_text(page.text)[:300]}")
        query = parse_qs(urlsplit(page.headers["location"]).query)
        if query.get("state") != [state] or "code" not in query:
            raise LoginFailed(f"unexpected redirect: {page.headers['location']}")
        answer = await browser.post(f"{base}/token", data={
            "grant_type": "authorization_code", "client_id": client_id, "code": query["code"][0],
            "redirect_uri": redirect_uri, "code_verifier": verifier})
    if answer.status_code != 200:
        raise LoginFailed(f"the code exchange failed: {answer.status_code} {answer.text[:200]}")
    tokens = answer.json()
    return PortalLogin(tokens["access_token"], tokens.get("refresh_token"), changed, tokens)
