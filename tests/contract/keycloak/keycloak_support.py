"""Helpers for the Keycloak contract tests: python-keycloak connections, HTML forms, an SMTP catcher."""

from __future__ import annotations

import html
import re
import socket

from keycloak import KeycloakOpenIDConnection

from sim.keycloak import KeycloakFake

FORM_ACTION = re.compile(r'<form[^>]*\baction="([^"]+)"')


def service_connection(keycloak: KeycloakFake, server_url: str, **options: object) -> KeycloakOpenIDConnection:
    return KeycloakOpenIDConnection(server_url=server_url, realm_name=keycloak.customer_realm,
                                    client_id=keycloak.service_client_id,
                                    client_secret_key=keycloak.service_client_secret, **options)  # type: ignore[arg-type]


async def close_connection(connection: KeycloakOpenIDConnection) -> None:
    """Close both httpx clients: the connection's and the one its token client was built with."""
    await connection.keycloak_openid.connection.aclose()
    await connection.aclose()


def form_action(page: str) -> str:
    found = FORM_ACTION.search(page)
    assert found is not None, f"no form on the page: {page[:300]}"
    return html.unescape(found.group(1))


class CapturingHandler:
    """aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
