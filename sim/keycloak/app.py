"""The fake's HTTP face: one Litestar app serving every realm."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from sim.keycloak.account_endpoints import account_router
from sim.keycloak.admin_endpoints import admin_router
from sim.keycloak.http import KeycloakAnswer, answer_keycloak_error
from sim.keycloak.login_pages import login_router
from sim.keycloak.oidc_endpoints import oidc_router

if TYPE_CHECKING:
    from sim.keycloak.fake import KeycloakFake

__all__ = ["build_app"]


def build_app(keycloak: KeycloakFake) -> Litestar:
    def provide_keycloak() -> KeycloakFake:
        return keycloak

    return Litestar(
        route_handlers=[oidc_router, login_router, account_router, admin_router],
        dependencies={"keycloak": Provide(provide_keycloak, sync_to_thread=False)},
        # Guards have no dependency injection; they find the fake here.
        state=State({"keycloak": keycloak}),
        exception_handlers={KeycloakAnswer: answer_keycloak_error},
        # The endpoints name the fake only for type checkers; Litestar resolves the name from here.
        signature_namespace={"KeycloakFake": type(keycloak)},
        openapi_config=None,
        logging_config=None,
    )
