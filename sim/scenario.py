"""Steps and views for scenarios told against the sandbox: what a QA notebook does, in one call each.

    api = await stack.api()
    customer = await create_customer(api, "ada")
    kyc = await start_kyc(api, customer["id"])
    stack.sumsub.review(kyc["applicant_id"], "GREEN")
    customer = await wait_for_customer(api, customer["id"], status="active")
    print(provisioning_table(customer))
    print(webhook_journal_table(stack.sumsub.webhooks.journal, applicant_id=kyc["applicant_id"]))

Waiting is on a condition with a deadline, never for a fixed time; a missed deadline raises
``ScenarioTimeout`` quoting the last thing seen. Tables are plain text, for printing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from sim.keycloak import KeycloakFake, User
from sim.network import HeldMessage, Match, MessageMatch, NetworkRecord, WebhookMessage, WebhookNetwork
from sim.sumsub.webhooks import DeliveryAttempt
from sim.waiting import eventually

__all__ = [
    "ScenarioTimeout",
    "callbacks_table",
    "create_customer",
    "customer_summary",
    "get_account",
    "get_customer",
    "keycloak_users_of",
    "keycloak_users_table",
    "network_journal_table",
    "provisioning_table",
    "start_kyc",
    "table",
    "wait_for_callbacks",
    "wait_for_customer",
    "wait_for_failed_attempt",
    "wait_for_held",
    "webhook_journal_table",
]

T = TypeVar("T")


class ScenarioTimeout(TimeoutError):
    """A scenario waited for something that did not happen in time; the message says what was last seen."""


async def _until(probe: Callable[[], Awaitable[T]], holds: Callable[[T], bool], *, timeout: float,  # noqa: ASYNC109 - a deadline on a condition, not a sleep
                 what: str) -> T:
    return await eventually(probe, until=holds, timeout=timeout, what=what, failure=ScenarioTimeout)


def _answer(response: httpx.Response) -> dict[str, Any]:
    response.raise_for_status()
    return dict(response.json())


# the operator's side: the service's API

async def create_customer(api: httpx.AsyncClient, name: str, customer_type: str = "individual") -> dict[str, Any]:
    """A new customer whose address is ``<name>.<random>@example.com``.

    The random part lets a scenario run again on the same database, where addresses are unique.
    """
    email = f"{name}.{uuid.uuid4().hex[:8]}@example.com"
    return _answer(await api.post("/api/customers", json={"email": email, "customer_type": customer_type}))


async def start_kyc(api: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    """Ask the service for the customer's verification link: ``{"url": ..., "applicant_id": ...}``."""
    return _answer(await api.post(f"/api/customers/{customer_id}/kyc-link"))


async def get_customer(api: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    return _answer(await api.get(f"/api/customers/{customer_id}"))


async def get_account(api: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    """The customer's deposit account, as the operator sees it."""
    return _answer(await api.get(f"/api/customers/{customer_id}/account"))


async def wait_for_customer(api: httpx.AsyncClient, customer_id: str, *, status: str | None = None,
                            kyc_status: str | None = None, timeout: float = 30.0) -> dict[str, Any]:  # noqa: ASYNC109 - a deadline on a condition, not a sleep
    """The customer once its ``activity_status`` is ``status`` and its ``kyc_status`` is ``kyc_status``
    (each only when given)."""
    wanted = {key: value for key, value in (("activity_status", status), ("kyc_status", kyc_status))
              if value is not None}
    if not wanted:
        raise ValueError("say what to wait for: status, kyc_status or both")

    def reached(customer: dict[str, Any]) -> bool:
        return all(customer.get(key) == value for key, value in wanted.items())

    return await _until(lambda: get_customer(api, customer_id), reached, timeout=timeout,
                        what=f"customer {customer_id} with {wanted}")


async def wait_for_failed_attempt(api: httpx.AsyncClient, customer_id: str, step: str, *,
                                  timeout: float = 30.0) -> dict[str, Any]:  # noqa: ASYNC109 - a deadline on a condition, not a sleep
    """The customer once provisioning ``step`` has recorded an attempt that failed (``last_error`` set)."""

    def failed(customer: dict[str, Any]) -> bool:
        state = (customer.get("provisioning") or {}).get(step) or {}
        return state.get("attempts", 0) >= 1 and bool(state.get("last_error"))

    return await _until(lambda: get_customer(api, customer_id), failed, timeout=timeout,
                        what=f"a failed {step} attempt for customer {customer_id}")


async def wait_for_callbacks(api: httpx.AsyncClient, customer_id: str, count: int, *,
                             timeout: float = 30.0) -> list[dict[str, Any]]:  # noqa: ASYNC109 - a deadline on a condition, not a sleep
    """The Sumsub callbacks the service stored for the customer (in arrival order), once there are
    ``count`` of them and none is still waiting to be processed."""

    async def stored() -> list[dict[str, Any]]:
        response = await api.get(f"/api/customers/{customer_id}/kyc/callbacks")
        response.raise_for_status()
        return list(response.json())

    def settled(callbacks: list[dict[str, Any]]) -> bool:
        return len(callbacks) >= count and all(callback["status"] != "received" for callback in callbacks)

    return await _until(stored, settled, timeout=timeout,
                        what=f"{count} processed callbacks for customer {customer_id}")


# the network's side

async def wait_for_held(network: WebhookNetwork, count: int, *, match: MessageMatch = None,
                        timeout: float = 10.0) -> list[HeldMessage]:  # noqa: ASYNC109 - a deadline on a condition, not a sleep
    """The held messages (those ``match`` selects) once there are at least ``count`` of them."""
    wanted = _selector(match)

    async def held() -> list[HeldMessage]:
        return [message for message in network.held if wanted(message.message)]

    return await _until(held, lambda found: len(found) >= count, timeout=timeout,
                        what=f"{count} held messages")


def _selector(match: MessageMatch) -> Callable[[WebhookMessage], bool]:
    """What ``WebhookNetwork`` itself understands by a match: any message, an event type, or a predicate."""
    if match is None:
        return lambda message: True
    return Match(event_type=match) if isinstance(match, str) else match


# views

def customer_summary(customer: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a scenario talks about, without the rest."""
    keys = ("public_id", "email", "customer_type", "kyc_status", "verification_status", "kyc_level",
            "activity_status")
    return {key: customer.get(key) for key in keys}


def keycloak_users_of(keycloak: KeycloakFake, customer_id: str) -> list[User]:
    """The customer's users in Keycloak's customer realm (one, when provisioning did its job once)."""
    realm = keycloak.realm(keycloak.customer_realm)
    return [user for user in realm.users.values() if customer_id in user.attributes.get("customer_id", [])]


def keycloak_users_table(keycloak: KeycloakFake, customer_id: str) -> str:
    return table([{"username": user.username, "enabled": user.enabled, "customer_id": customer_id}
                  for user in keycloak_users_of(keycloak, customer_id)])


def provisioning_table(customer: Mapping[str, Any]) -> str:
    """One line per provisioning step: its status, attempts so far and the last error."""
    steps = customer.get("provisioning") or {}
    return table([{"step": step, "status": state["status"], "attempts": state["attempts"],
                   "last_error": state.get("last_error") or ""} for step, state in steps.items()])


def callbacks_table(callbacks: Iterable[Mapping[str, Any]]) -> str:
    """The service's side of the webhooks (``/api/customers/{id}/kyc/callbacks``): in arrival order,
    with when Sumsub created each one and what processing made of it."""
    return table([{"received": callback["received_at"], "type": callback["type"],
                   "review": callback.get("review_answer") or "", "created_at": callback["event_created_at"],
                   "status": callback["status"], "last_error": callback.get("last_error") or ""}
                  for callback in callbacks])


def _review(body: bytes) -> str:
    """``GREEN``, ``RED/RETRY``… for a review callback, else empty."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    result = payload.get("reviewResult") or {}
    answer = result.get("reviewAnswer") or ""
    reject = result.get("reviewRejectType")
    return f"{answer}/{reject}" if answer and reject else answer


def _created_at_ms(body: bytes) -> str:
    try:
        return str(json.loads(body).get("createdAtMs", ""))
    except ValueError:
        return ""


def webhook_journal_table(journal: Iterable[DeliveryAttempt], *, applicant_id: str | None = None) -> str:
    """Every webhook attempt as Sumsub saw it (``sumsub.webhooks.journal``), times in seconds from the first."""
    attempts = [a for a in journal if applicant_id is None or a.applicant_id == applicant_id]
    start = min((a.sent_at for a in attempts), default=0.0)
    return table([{"sent": f"+{a.sent_at - start:.2f}s", "settled": f"+{a.settled_at - start:.2f}s",
                   "event": a.event_type, "review": _review(a.payload), "createdAtMs": _created_at_ms(a.payload),
                   "attempt": a.attempt, "status": a.status if a.status is not None else a.error or "",
                   "next_retry": "" if a.next_retry_at is None else f"+{a.next_retry_at - start:.0f}s"}
                  for a in attempts])


def network_journal_table(records: Iterable[NetworkRecord], *, match: MessageMatch = None) -> str:
    """The network's journal (``network.journal``): what entered it, what a rule did (the rule by its
    number, as in ``hold#1``), what arrived."""
    wanted = _selector(match)
    chosen = [r for r in records if wanted(r.message)]
    start = min((r.at for r in chosen), default=0.0)
    return table([{"at": f"+{r.at - start:.2f}s", "action": r.action, "event": r.event_type or "",
                   "review": _review(r.body), "message": r.message_id, "copy": r.copy or "",
                   "status": r.status if r.status is not None else r.error or "",
                   "rule": r.rule.split("(", 1)[0], "detail": r.detail} for r in chosen])


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows of the same keys as fixed-width text, a header line first."""
    if not rows:
        return "(none)"
    columns = list(rows[0])
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = [columns, ["-" * width for width in widths], *cells]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in lines)
