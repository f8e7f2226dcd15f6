"""Which Keycloak user is a customer's login: python-keycloak against the Keycloak fake.

The ``customer_id`` attribute finds the user, but only a user whose username and email are the
customer's email is adopted; a user that merely carries the attribute is never handed the login.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest

from service.provisioning.directory import CustomerDirectory, LoginConflict
from service.settings import Settings
from sim.keycloak import KeycloakFake, Realm


@pytest.fixture
async def directory(settings: Settings, keycloak: KeycloakFake) -> AsyncIterator[CustomerDirectory]:
    directory = CustomerDirectory(msgspec.structs.replace(
        settings, keycloak_client_id=keycloak.service_client_id,
        keycloak_client_secret=keycloak.service_client_secret))
    yield directory
    await directory.aclose()


@pytest.fixture
def realm(keycloak: KeycloakFake) -> Realm:
    return keycloak.realm(keycloak.customer_realm)


def new_customer() -> tuple[str, str]:
    return str(uuid.uuid4()), f"owner.{uuid.uuid4().hex[:10]}@example.com"


def carrying(realm: Realm, customer_id: str) -> list[str]:
    return sorted(u.username for u in realm.users.values() if customer_id in u.attributes.get("customer_id", []))


async def test_the_customers_own_user_is_made_once_and_then_adopted(directory: CustomerDirectory,
                                                                    realm: Realm) -> None:
    customer_id, email = new_customer()
    made = await directory.ensure_login(customer_id, email)
    again = await directory.ensure_login(customer_id, email.upper())
    assert made.created
    assert (again.user_id, again.created) == (made.user_id, False)
    assert carrying(realm, customer_id) == [email]


async def test_a_user_that_only_carries_the_customers_id_is_not_adopted(directory: CustomerDirectory,
                                                                        realm: Realm) -> None:
    customer_id, email = new_customer()
    # as a user could make themselves in a realm whose profile lets users edit customer_id
    realm.create_user({"username": "mallory." + email, "email": "mallory." + email, "enabled": True,
                       "attributes": {"customer_id": [customer_id]}})
    with pytest.raises(LoginConflict, match="not adopted") as refused:
        await directory.ensure_login(customer_id, email)
    assert customer_id in str(refused.value)
    assert carrying(realm, customer_id) == ["mallory." + email]  # and no login made for the customer beside it


async def test_a_user_with_the_customers_username_but_another_email_is_not_adopted(
        directory: CustomerDirectory, realm: Realm) -> None:
    customer_id, email = new_customer()
    realm.create_user({"username": email, "email": "elsewhere." + email, "enabled": True,
                       "attributes": {"customer_id": [customer_id]}})
    with pytest.raises(LoginConflict, match="not adopted"):
        await directory.ensure_login(customer_id, email)


async def test_a_user_named_as_the_customer_without_the_attribute_is_not_adopted(
        directory: CustomerDirectory, realm: Realm) -> None:
    customer_id, email = new_customer()
    realm.create_user({"username": email, "email": email, "enabled": True})
    with pytest.raises(LoginConflict, match="not adopted"):
        await directory.ensure_login(customer_id, email)


async def test_beside_an_impostor_the_customers_own_user_is_the_login(directory: CustomerDirectory,
                                                                      realm: Realm) -> None:
    customer_id, email = new_customer()
    own = realm.create_user({"username": email, "email": email, "enabled": True,
                             "attributes": {"customer_id": [customer_id]}})
    realm.create_user({"username": "mallory." + email, "email": "mallory." + email, "enabled": True,
                       "attributes": {"customer_id": [customer_id]}})
    login = await directory.ensure_login(customer_id, email)
    assert (login.user_id, login.created) == (own.id, False)


async def test_suspension_disables_every_user_that_carries_the_customers_id(directory: CustomerDirectory,
                                                                            realm: Realm) -> None:
    customer_id, email = new_customer()
    own = realm.create_user({"username": email, "email": email, "enabled": True,
                             "attributes": {"customer_id": [customer_id]}})
    other = realm.create_user({"username": "mallory." + email, "email": "mallory." + email, "enabled": True,
                               "attributes": {"customer_id": [customer_id]}})
    disabled = await directory.disable_login(customer_id)
    assert disabled is not None
    assert set(disabled.split(",")) == {own.id, other.id}
    assert (own.enabled, other.enabled) == (False, False)
