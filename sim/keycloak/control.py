"""The Keycloak fake's ``/__admin/`` API (see ``sim.control``).

Journal entries: ``{"at", "kind": "request", "method", "path", "query", "status"}`` for every request
the fake answered itself (bodies are never kept: they carry passwords and secrets), and
``{"at", "kind": "fault", "method", "path", "fault": "status"|"slow", "status"}`` for every injected
fault. Faults: the rules of ``sim.faults.HttpFaults``, and ``{"kind": "expire_tokens"}``, which
makes every token issued so far invalid (as ``KeycloakFake.expire_tokens``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Litestar

from sim.control import (
    Entry,
    FakeControl,
    HttpFaultIn,
    Rule,
    apply_http_fault,
    by_time,
    control_app,
    decode,
    http_faults_view,
    injected_out,
    iso,
)

if TYPE_CHECKING:
    from sim.keycloak.fake import KeycloakFake

__all__ = ["keycloak_control"]


class ExpireTokensIn(Rule, tag="expire_tokens"):
    pass


KeycloakFaultIn = HttpFaultIn | ExpireTokensIn


def keycloak_control(fake: KeycloakFake) -> Litestar:
    def journal() -> list[Entry]:
        entries: list[tuple[float, Entry]] = [
            (request.at, {"at": iso(request.at), "kind": "request", "method": request.method, "path": request.path,
                          "query": request.query, "status": request.status})
            for request in fake.journal
        ]
        entries += [(fault.at, injected_out(fault)) for fault in fake.faults.journal]
        return by_time(entries)

    async def apply_fault(raw: bytes) -> None:
        rule: Any = decode(raw, KeycloakFaultIn)
        if isinstance(rule, ExpireTokensIn):
            fake.expire_tokens()
        else:
            apply_http_fault(fake.faults, rule)

    return control_app(FakeControl("keycloak", journal=journal, reset=fake.reset, clock=fake.clock,
                                   faults=lambda: http_faults_view(fake.faults), apply_fault=apply_fault))
