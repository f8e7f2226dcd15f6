"""The browser login (authorization code with PKCE), driven with httpx as a browser would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from keycloak import KeycloakAdmin, KeycloakOpenID, KeycloakPostError
from keycloak.pkce_utils import generate_code_challenge, generate_code_verifier

from sim.keycloak import KeycloakFake

from .keycloak_support import form_action

REDIRECT_URI = "http://127.0.0.1:5173/callback"


async def open_login(browser: httpx.AsyncClient, server_url: str, client_id: str, challenge: str,
                     method: str = "S256", state: str = "st-1") -> httpx.Response:
    return await browser.get(f"{server_url}realms/customer/protocol/openid-connect/auth", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": state, "code_challenge": challenge, "code_challenge_method": method})


async def submit(browser: httpx.AsyncClient, page: httpx.Response, fields: dict[str, str]) -> httpx.Response:
    return await browser.post(page.url.join(form_action(page.text)), data=fields)


def callback_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
async def new_customer(admin: KeycloakAdmin) -> str:
    user_id = admin.create_user({"username": "grace", "email": "grace@example.com", "enabled": True,
                                 "firstName": "Grace", "lastName": "Hopper"})
    admin.set_user_password(user_id, "Welcome-123", temporary=True)
    return user_id


async def test_first_login_forces_a_new_password_and_ends_with_a_token(
        keycloak: KeycloakFake, server_url: str, portal: KeycloakOpenID, new_customer: str) -> None:
    verifier = generate_code_verifier()
    async with httpx.AsyncClient() as browser:
        login = await open_login(browser, server_url, keycloak.portal_client_id, generate_code_challenge(verifier)[0])
        assert 'name="password"' in login.text

        change = await submit(browser, login, {"username": "grace", "password": "Welcome-123"})
        assert 'name="password-new"' in change.text

        mismatch = await submit(browser, change, {"password-new": "Mine-456", "password-confirm": "Mine-457"})
        assert "Passwords don&#x27;t match." in mismatch.text

        params = callback_params(await submit(browser, mismatch, {"password-new": "Mine-456",
                                                            "password-confirm": "Mine-456"}))

    assert params["state"] == "st-1"
    assert params["iss"] == f"{server_url}realms/customer"
    tokens = portal.token(grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT_URI,
                          code_verifier=verifier)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["preferred_username"], claims["azp"]) == (new_customer, "grace",
                                                                             keycloak.portal_client_id)
    assert claims["sid"] == params["session_state"]
    assert keycloak.realm("customer").user(new_customer).required_actions == []  # type: ignore[union-attr]
    assert portal.token("grace", "Mine-456")["access_token"]


async def login_code(keycloak: KeycloakFake, server_url: str, verifier: str) -> str:
    """Log grace in by her email, changing the temporary password if it is still pending."""
    async with httpx.AsyncClient() as browser:
        login = await open_login(browser, server_url, keycloak.portal_client_id, generate_code_challenge(verifier)[0])
        answer = await submit(browser, login, {"username": "grace@example.com", "password": "Welcome-123"})
        if "Invalid username or password." in answer.text:
            answer = await submit(browser, answer, {"username": "grace@example.com", "password": "Mine-456"})
        if 'name="password-new"' in answer.text:
            answer = await submit(browser, answer, {"password-new": "Mine-456", "password-confirm": "Mine-456"})
        return callback_params(answer)["code"]


async def test_a_code_needs_the_right_verifier_and_works_once(
        keycloak: KeycloakFake, server_url: str, portal: KeycloakOpenID, new_customer: str) -> None:
    verifier = generate_code_verifier()
    code = await login_code(keycloak, server_url, verifier)

    with pytest.raises(KeycloakPostError) as wrong_verifier:
        portal.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI,
                     code_verifier=generate_code_verifier())
    assert b"PKCE verification failed" in wrong_verifier.value.response_body

    code = await login_code(keycloak, server_url, verifier)
    assert portal.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI,
                        code_verifier=verifier)["access_token"]
    with pytest.raises(KeycloakPostError) as reused:
        portal.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier)
    assert b"Code not valid" in reused.value.response_body


async def test_plain_pkce_for_a_client_that_does_not_force_s256(keycloak: KeycloakFake, server_url: str) -> None:
    admin_realm = keycloak.realm("admin")
    admin_realm.add_client("back-office", public=True, redirect_uris=[REDIRECT_URI])
    async with httpx.AsyncClient() as browser:
        login = await browser.get(f"{server_url}realms/admin/protocol/openid-connect/auth", params={
            "response_type": "code", "client_id": "back-office", "redirect_uri": REDIRECT_URI,
            "code_challenge": "plain-verifier-" + "x" * 30, "code_challenge_method": "plain"})
        params = callback_params(await submit(browser, login, {"username": keycloak.operator_username,
                                                         "password": keycloak.operator_password}))

    async with httpx.AsyncClient() as client:
        response = await client.post(f"{server_url}realms/admin/protocol/openid-connect/token", data={
            "grant_type": "authorization_code", "client_id": "back-office", "code": params["code"],
            "redirect_uri": REDIRECT_URI, "code_verifier": "plain-verifier-" + "x" * 30})
    assert response.status_code == 200
    assert "id_token" not in response.json()  # no openid scope was asked for


async def test_wrong_password_shows_the_form_again(keycloak: KeycloakFake, server_url: str,
                                                   new_customer: str) -> None:
    async with httpx.AsyncClient() as browser:
        login = await open_login(browser, server_url, keycloak.portal_client_id, generate_code_challenge("v" * 43)[0])
        again = await submit(browser, login, {"username": "grace", "password": "wrong"})
        assert "Invalid username or password." in again.text
        assert 'name="password"' in again.text
        # the page is good for one submission
        replay = await browser.post(login.url.join(form_action(login.text)), data={"username": "grace",
                                                                            "password": "Welcome-123"})
    assert "Action expired" in replay.text


async def test_a_disabled_user_cannot_log_in(keycloak: KeycloakFake, server_url: str, admin: KeycloakAdmin,
                                             new_customer: str) -> None:
    admin.disable_user(new_customer)

    async with httpx.AsyncClient() as browser:
        login = await open_login(browser, server_url, keycloak.portal_client_id, generate_code_challenge("v" * 43)[0])
        refused = await submit(browser, login, {"username": "grace", "password": "Welcome-123"})

    assert "Account is disabled" in refused.text
    assert "Location" not in refused.headers


def test_the_portal_must_send_a_code_challenge(keycloak: KeycloakFake, server_url: str) -> None:
    response = httpx.get(f"{server_url}realms/customer/protocol/openid-connect/auth", params={
        "response_type": "code", "client_id": keycloak.portal_client_id, "redirect_uri": REDIRECT_URI,
        "state": "s"})

    params = callback_params(response)
    assert (params["error"], params["state"]) == ("invalid_request", "s")


def test_an_unregistered_redirect_uri_gets_an_error_page(keycloak: KeycloakFake, server_url: str) -> None:
    response = httpx.get(f"{server_url}realms/customer/protocol/openid-connect/auth", params={
        "response_type": "code", "client_id": keycloak.portal_client_id,
        "redirect_uri": "https://evil.example/cb", "code_challenge": "c" * 43, "code_challenge_method": "S256"})

    assert response.status_code == 400
    assert "Invalid parameter: redirect_uri" in response.text


async def test_without_the_session_cookie_the_form_is_refused(keycloak: KeycloakFake, server_url: str) -> None:
    async with httpx.AsyncClient() as browser:
        login = await open_login(browser, server_url, keycloak.portal_client_id,
                                 generate_code_challenge("v" * 43)[0])
    async with httpx.AsyncClient() as cookieless:
        response = await cookieless.post(login.url.join(form_action(login.text)),
                                         data={"username": "operator", "password": "x"})

    assert "Cookie not found" in response.text
