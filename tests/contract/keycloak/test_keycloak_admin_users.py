"""The admin users API through python-keycloak's KeycloakAdmin, sync (requests) and async (httpx)."""

from __future__ import annotations

import email
import json
import re
import uuid
from email.message import Message

import httpx
import pytest
import respx
from keycloak import (
    KeycloakAdmin,
    KeycloakAuthenticationError,
    KeycloakGetError,
    KeycloakOpenID,
    KeycloakOpenIDConnection,
    KeycloakPostError,
    KeycloakPutError,
)

from sim.clock import VirtualClock
from sim.keycloak import KeycloakFake

from .keycloak_support import CapturingHandler, close_connection, form_action, free_port, service_connection


def customer(username: str = "Ada.Lovelace", mail: str = "ada@example.com", customer_id: str | None = None) -> dict:
    return {"username": username, "email": mail, "firstName": "Ada", "lastName": "Lovelace", "enabled": True,
            "attributes": {"customer_id": [customer_id or str(uuid.uuid4())]}}


def user_posts(keycloak: KeycloakFake) -> int:
    return len(keycloak.journal.matching("POST", "/admin/realms/customer/users"))


def token_requests(keycloak: KeycloakFake) -> int:
    return len(keycloak.journal.matching("POST", "/protocol/openid-connect/token"))


def test_create_user_answers_201_with_an_absolute_location(keycloak: KeycloakFake, server_url: str) -> None:
    token = httpx.post(f"{server_url}realms/customer/protocol/openid-connect/token",
                       data={"grant_type": "client_credentials", "client_id": keycloak.service_client_id,
                             "client_secret": keycloak.service_client_secret}).json()["access_token"]

    response = httpx.post(f"{server_url}admin/realms/customer/users", json=customer(),
                          headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 201
    user_id = response.headers["Location"].rsplit("/", 1)[1]
    assert response.headers["Location"] == f"{server_url}admin/realms/customer/users/{user_id}"
    assert keycloak.realm("customer").user(user_id) is not None


async def test_create_then_read_back(admin: KeycloakAdmin, keycloak: KeycloakFake) -> None:
    customer_id = str(uuid.uuid4())

    user_id = admin.create_user(customer(customer_id=customer_id))

    stored = admin.get_user(user_id)
    assert stored["username"] == "ada.lovelace"
    assert stored["email"] == "ada@example.com"
    assert stored["attributes"] == {"customer_id": [customer_id]}
    assert stored["enabled"] is True
    assert stored["requiredActions"] == []
    assert stored["createdTimestamp"] == int(keycloak.clock.time() * 1000)


async def test_create_with_exist_ok_returns_the_existing_id_without_posting(admin: KeycloakAdmin,
                                                                            keycloak: KeycloakFake) -> None:
    first = admin.create_user(customer())
    posts = user_posts(keycloak)

    again = admin.create_user(customer(username="ADA.LOVELACE"), exist_ok=True)

    assert again == first
    assert user_posts(keycloak) == posts


@pytest.mark.parametrize(("duplicate", "exist_ok", "message"), [
    (customer(username="ada.lovelace", mail="other@example.com"), False, "User exists with same username"),
    # exist_ok looks the username up only: a clash on the email still reaches the server
    (customer(username="someone-else", mail="ADA@example.com"), True, "User exists with same email"),
])
async def test_a_duplicate_is_409(admin: KeycloakAdmin, duplicate: dict, exist_ok: bool, message: str) -> None:
    admin.create_user(customer())

    with pytest.raises(KeycloakPostError) as refused:
        admin.create_user(duplicate, exist_ok=exist_ok)

    assert refused.value.response_code == 409
    assert json.loads(refused.value.response_body) == {"errorMessage": message}


async def test_a_user_without_username_is_400(admin: KeycloakAdmin) -> None:
    with pytest.raises(KeycloakPostError) as refused:
        admin.create_user({"email": "nobody@example.com"})

    assert refused.value.response_code == 400
    assert json.loads(refused.value.response_body) == {"errorMessage": "User name is missing"}


async def test_attribute_query_finds_exactly_the_customer(admin: KeycloakAdmin) -> None:
    wanted = str(uuid.uuid4())
    admin.create_user(customer("first", "first@example.com"))
    user_id = admin.create_user(customer("second", "second@example.com", customer_id=wanted))

    found = admin.get_users({"q": f"customer_id:{wanted}"})

    assert [user["id"] for user in found] == [user_id]
    assert admin.get_users({"q": f"customer_id:{uuid.uuid4()}"}) == []


async def test_get_user_id_matches_the_whole_username(admin: KeycloakAdmin) -> None:
    user_id = admin.create_user(customer("ada"))
    admin.create_user(customer("adam", "adam@example.com"))

    assert admin.get_user_id("ADA") == user_id
    assert admin.get_user_id("ad") is None


async def test_list_filters_search_and_pages(admin: KeycloakAdmin) -> None:
    for name in ("carol", "alice", "bob"):
        admin.create_user(customer(name, f"{name}@example.com"))

    assert [u["username"] for u in admin.get_users({"first": 1, "max": 2})] == ["bob", "carol"]
    assert [u["username"] for u in admin.get_users({"search": "b"})] == ["bob"]
    assert [u["username"] for u in admin.get_users({"search": "*aro*"})] == ["carol"]
    assert [u["username"] for u in admin.get_users({"email": "example.com"})] == ["alice", "bob", "carol"]
    assert "attributes" not in admin.get_users({"username": "alice", "briefRepresentation": True})[0]
    assert admin.users_count() == 3
    assert admin.users_count({"search": "ali"}) == 1


async def test_update_replaces_attributes_and_required_actions(admin: KeycloakAdmin) -> None:
    user_id = admin.create_user({**customer(), "requiredActions": ["VERIFY_EMAIL"],
                                 "attributes": {"customer_id": ["c-1"], "segment": ["retail"]}})

    admin.update_user(user_id, {"username": "Ada.Byron", "attributes": {"customer_id": ["c-1"]},
                                "requiredActions": ["UPDATE_PROFILE"]})

    stored = admin.get_user(user_id)
    assert stored["username"] == "ada.byron"
    assert stored["attributes"] == {"customer_id": ["c-1"]}
    assert stored["requiredActions"] == ["UPDATE_PROFILE"]
    assert stored["email"] == "ada@example.com"


async def test_unknown_and_deleted_users_are_404(admin: KeycloakAdmin) -> None:
    user_id = admin.create_user(customer())
    admin.delete_user(user_id)

    with pytest.raises(KeycloakGetError) as missing:
        admin.get_user(user_id)

    assert missing.value.response_code == 404
    assert json.loads(missing.value.response_body) == {"error": "User not found"}


async def test_temporary_password_refuses_the_password_grant_until_changed(
        admin: KeycloakAdmin, portal: KeycloakOpenID) -> None:
    user_id = admin.create_user(customer())
    admin.set_user_password(user_id, "Temporary-1", temporary=True)

    assert admin.get_user(user_id)["requiredActions"] == ["UPDATE_PASSWORD"]
    with pytest.raises(KeycloakPostError) as refused:
        portal.token("ada.lovelace", "Temporary-1")
    assert refused.value.response_code == 400
    assert json.loads(refused.value.response_body) == {"error": "invalid_grant",
                                                       "error_description": "Account is not fully set up"}

    admin.set_user_password(user_id, "Permanent-1", temporary=False)
    assert admin.get_user(user_id)["requiredActions"] == []
    assert portal.token("ada.lovelace", "Permanent-1")["access_token"]


async def test_credentials_in_the_create_body_are_honoured(admin: KeycloakAdmin, portal: KeycloakOpenID) -> None:
    admin.create_user({**customer(), "credentials": [{"type": "password", "value": "Initial-1", "temporary": False}]})

    answer = portal.token("ada@example.com", "Initial-1")

    assert answer["access_token"]


async def test_a_disabled_user_gets_no_token(admin: KeycloakAdmin, portal: KeycloakOpenID) -> None:
    user_id = admin.create_user({**customer(), "credentials": [{"type": "password", "value": "Initial-1"}]})
    admin.disable_user(user_id)

    with pytest.raises(KeycloakPostError) as refused:
        portal.token("ada.lovelace", "Initial-1")

    assert json.loads(refused.value.response_body)["error_description"] == "Account disabled"


async def test_an_empty_password_is_400(admin: KeycloakAdmin) -> None:
    user_id = admin.create_user(customer())

    with pytest.raises(KeycloakPutError) as refused:
        admin.set_user_password(user_id, "", temporary=True)

    assert refused.value.response_code == 400


async def test_no_password_appears_in_what_the_fake_shows(admin: KeycloakAdmin, keycloak: KeycloakFake) -> None:
    user_id = admin.create_user({**customer(), "credentials": [{"type": "password", "value": "Visible-Secret-1"}]})

    user = keycloak.realm("customer").user(user_id)
    shown = repr(user) + repr(keycloak.journal.entries) + json.dumps(admin.get_user(user_id))
    assert "Visible-Secret-1" not in shown
    assert keycloak.operator_password not in repr(keycloak.realm("admin").users)


async def test_update_account_email_carries_a_link_to_change_the_password(
        admin: KeycloakAdmin, smtp: CapturingHandler, portal: KeycloakOpenID, keycloak: KeycloakFake) -> None:
    user_id = admin.create_user(customer())

    admin.send_update_account(user_id, ["UPDATE_PASSWORD"])

    ((sender, recipients, raw),) = smtp.messages
    assert (sender, recipients) == (keycloak.mail_from, ["ada@example.com"])
    message = email.message_from_bytes(raw)
    assert message["Subject"] == "Update Your Account"
    link = re.search(r"(http://\S+/login-actions/action-token\?\S+)", _text_part(message))
    assert link is not None
    async with httpx.AsyncClient() as browser:
        page = await browser.get(link.group(1))
        assert 'name="password-new"' in page.text
        done = await browser.post(httpx.URL(link.group(1)).join(form_action(page.text)),
                            data={"password-new": "Chosen-1", "password-confirm": "Chosen-1"})
    assert "Your account has been updated." in done.text
    assert portal.token("ada.lovelace", "Chosen-1")["access_token"]
    assert [e.delivered for e in keycloak.action_emails] == [True]


def _text_part(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()  # type: ignore[union-attr]
    raise AssertionError("no text part")


async def test_update_account_email_needs_an_email_address(admin: KeycloakAdmin, smtp: CapturingHandler) -> None:
    user_id = admin.create_user({"username": "no-mail"})

    with pytest.raises(KeycloakPutError) as refused:
        admin.send_update_account(user_id, ["UPDATE_PASSWORD"])

    assert (refused.value.response_code, json.loads(refused.value.response_body)) == (
        400, {"errorMessage": "User email missing"})
    assert smtp.messages == []


async def test_update_account_email_when_smtp_is_down_is_500(admin: KeycloakAdmin, keycloak: KeycloakFake) -> None:
    keycloak.smtp_host, keycloak.smtp_port = "127.0.0.1", free_port()
    user_id = admin.create_user(customer())

    with pytest.raises(KeycloakPutError) as refused:
        admin.send_update_account(user_id, ["UPDATE_PASSWORD"])

    assert refused.value.response_code == 500
    assert [e.delivered for e in keycloak.action_emails] == [False]


async def test_after_expire_tokens_the_next_call_authenticates_again(admin: KeycloakAdmin,
                                                                     keycloak: KeycloakFake) -> None:
    admin.create_user(customer())
    logins = token_requests(keycloak)

    keycloak.expire_tokens()

    assert admin.get_user_id("ada.lovelace") is not None
    assert token_requests(keycloak) == logins + 1
    rejected = keycloak.journal.matching("GET", "/admin/realms/customer/users")[-2]
    assert rejected.status == 401


async def test_a_token_past_its_lifetime_on_the_clock_is_replaced(admin: KeycloakAdmin, keycloak: KeycloakFake,
                                                                  clock: VirtualClock) -> None:
    admin.create_user(customer())
    logins = token_requests(keycloak)

    await clock.advance(301)

    assert admin.get_user_id("ada.lovelace") is not None
    assert token_requests(keycloak) == logins + 1


def test_no_token_is_401_and_a_foreign_realm_token_too(keycloak: KeycloakFake, server_url: str) -> None:
    assert httpx.get(f"{server_url}admin/realms/customer/users").status_code == 401
    keycloak.base_url = server_url
    viewer_token = keycloak.mint_token("customer", "service-account-onboarding-service",
                                       client_id=keycloak.service_client_id)
    response = httpx.get(f"{server_url}admin/realms/admin/users", headers={"Authorization": f"Bearer {viewer_token}"})
    assert response.status_code == 403


async def test_the_operator_administers_the_customer_realm_and_the_viewer_may_not(
        keycloak: KeycloakFake, server_url: str) -> None:
    def admin_as(username: str, password: str) -> KeycloakAdmin:
        return KeycloakAdmin(connection=KeycloakOpenIDConnection(
            server_url=server_url, realm_name="customer", user_realm_name="admin",
            client_id=keycloak.operator_client_id, username=username, password=password))

    operator = admin_as(keycloak.operator_username, keycloak.operator_password)
    viewer = admin_as(keycloak.viewer_username, keycloak.viewer_password)

    assert operator.create_user(customer())
    with pytest.raises(KeycloakGetError) as refused:
        viewer.get_users({})
    assert refused.value.response_code == 403
    for connection in (operator.connection, viewer.connection):
        await close_connection(connection)


async def test_realm_roles_and_role_mappings(admin: KeycloakAdmin) -> None:
    user_id = admin.create_user(customer())

    names = {role["name"] for role in admin.get_realm_roles()}
    admin.assign_realm_roles(user_id, [admin.get_realm_role("offline_access")])

    assert "default-roles-customer" in names
    assert "offline_access" in {role["name"] for role in admin.get_realm_roles_of_user(user_id)}


# the async path (httpx), same fake
async def test_async_create_find_update_and_password(admin: KeycloakAdmin, portal: KeycloakOpenID) -> None:
    customer_id = str(uuid.uuid4())

    user_id = await admin.a_create_user(customer(customer_id=customer_id))
    assert await admin.a_create_user(customer(), exist_ok=True) == user_id
    assert [u["id"] for u in await admin.a_get_users({"q": f"customer_id:{customer_id}"})] == [user_id]
    assert await admin.a_get_user_id("ada.lovelace") == user_id
    await admin.a_update_user(user_id, {"firstName": "Augusta"})
    assert (await admin.a_get_user(user_id))["firstName"] == "Augusta"
    await admin.a_set_user_password(user_id, "Temporary-1", temporary=True)

    with pytest.raises(KeycloakPostError) as refused:
        await portal.a_token("ada.lovelace", "Temporary-1")
    assert b"Account is not fully set up" in refused.value.response_body


async def test_async_duplicate_is_409(admin: KeycloakAdmin) -> None:
    await admin.a_create_user(customer())

    with pytest.raises(KeycloakPostError) as refused:
        await admin.a_create_user(customer(username="another"))

    assert refused.value.response_code == 409


async def test_async_update_account_email(admin: KeycloakAdmin, smtp: CapturingHandler) -> None:
    user_id = await admin.a_create_user(customer())

    await admin.a_send_update_account(user_id, ["UPDATE_PASSWORD"])

    assert [recipients for _, recipients, _ in smtp.messages] == [["ada@example.com"]]


async def test_async_reauthenticates_after_expire_tokens(admin: KeycloakAdmin, keycloak: KeycloakFake) -> None:
    await admin.a_create_user(customer())
    logins = token_requests(keycloak)

    keycloak.expire_tokens()

    assert await admin.a_get_user_id("ada.lovelace") is not None
    assert token_requests(keycloak) == logins + 1


async def test_an_expired_token_is_an_authentication_error_for_a_direct_call(
        keycloak: KeycloakFake, server_url: str) -> None:
    keycloak.base_url = server_url
    token = keycloak.mint_token("customer", "service-account-onboarding-service",
                                client_id=keycloak.service_client_id)
    keycloak.expire_tokens()
    admin = KeycloakAdmin(connection=KeycloakOpenIDConnection(
        server_url=server_url, realm_name="customer", client_id=keycloak.service_client_id,
        token={"access_token": token, "expires_in": 300}))

    with pytest.raises(KeycloakAuthenticationError):
        admin.get_users({})
    await close_connection(admin.connection)


async def test_in_process_through_respx_without_a_socket(keycloak: KeycloakFake) -> None:
    keycloak.base_url = "http://keycloak.internal/"
    connection = service_connection(keycloak, "http://keycloak.internal/")
    admin = KeycloakAdmin(connection=connection)
    with respx.mock(assert_all_called=True) as network:
        network.route(host="keycloak.internal").mock(side_effect=respx.ASGIHandler(keycloak.app))

        user_id = await admin.a_create_user(customer())

        assert (await admin.a_get_user(user_id))["username"] == "ada.lovelace"
    await close_connection(connection)


async def test_reset_keeps_the_published_credentials_and_forgets_the_rest(
        admin: KeycloakAdmin, keycloak: KeycloakFake, operator_openid: KeycloakOpenID) -> None:
    user_id = admin.create_user(customer())
    kid = keycloak.realm("customer").key.kid
    keycloak.faults.outage()

    keycloak.reset()

    assert keycloak.realm("customer").user(user_id) is None
    assert keycloak.realm("customer").key.kid == kid
    assert len(keycloak.journal) == 0
    assert operator_openid.token(keycloak.operator_username, keycloak.operator_password)["access_token"]
    assert admin.get_users({}) == []


def test_a_user_created_without_enabled_is_disabled_as_in_keycloak(admin: KeycloakAdmin) -> None:
    user_id = admin.create_user({"username": "left.out", "email": "left.out@example.com"})
    assert admin.get_user(user_id)["enabled"] is False
