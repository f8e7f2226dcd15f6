"""A client of the fakes' admin API (``/__admin/`` on each fake; see ``sim.control`` and the README's
"Each fake alone, and its admin API"), for scenarios run against a stack in other processes.

    GET  /__admin/journal                          {"fake", "entries": [{"at": ISO-8601, "kind", ...}]}
    POST /__admin/reset
    GET  /__admin/faults   POST /__admin/faults    one rule {"kind": ..., <its arguments>}, or {"kind": "clear"}
    GET  /__admin/clock    POST /__admin/clock/advance {"seconds": N}
    POST /__admin/applicants/{applicantId}/review  {"answer": "GREEN"} or {"answer": "RED",
                                                   "rejectType": "RETRY"|"FINAL", "labels": [...]}
    POST /__admin/applicants/{applicantId}/submit, .../on-hold

Fault kinds are named as the Python methods are: ``outage``, ``fail_next`` ...; on Sumsub also the
webhook network's ``duplicate``, ``delay``, ``hold``, ``drop``, ``lose_ack`` (each with a ``match``
such as ``{"external_user_id": ...}``) and ``release``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from sim.scenarios.timeline import TimelineEvent

__all__ = ["SYSTEMS", "AdminApiMissing", "AdminClient", "journal_events"]

SYSTEMS = ("sumsub", "keycloak", "smtp")
_LANES = {"sumsub": "Sumsub", "keycloak": "Keycloak", "smtp": "SMTP"}


class AdminApiMissing(RuntimeError):
    """The fake answered 404 or 405 on an admin path: it does not offer that."""


class AdminClient:
    def __init__(self, *, sumsub_url: str, keycloak_url: str, smtp_api_url: str, timeout: float = 30.0) -> None:
        self.urls = {"sumsub": sumsub_url.rstrip("/"), "keycloak": keycloak_url.rstrip("/"),
                     "smtp": smtp_api_url.rstrip("/")}
        self.timeout = timeout

    async def _call(self, system: str, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.urls[system], timeout=self.timeout) as http:
            response = await http.request(method, f"/__admin/{path}", json=body)
        if response.status_code == 405 or (response.status_code == 404 and not path.startswith("applicants/")):
            raise AdminApiMissing(f"the {system} fake at {self.urls[system]} has no {method} /__admin/{path} "
                                  f"({response.status_code})")
        if response.is_error:
            raise RuntimeError(f"{method} {self.urls[system]}/__admin/{path} answered {response.status_code}: "
                               f"{response.text[:300]}")
        return response.json() if response.content else None

    async def applicant_action(self, applicant_id: str, action: str, body: dict[str, Any] | None = None) -> Any:
        return await self._call("sumsub", "POST", f"applicants/{applicant_id}/{action}", body or {})

    async def faults(self, system: str) -> dict[str, Any]:
        return dict(await self._call(system, "GET", "faults"))

    async def add_fault(self, system: str, fault: dict[str, Any]) -> dict[str, Any]:
        """Program one rule; answers the fake's faults as they are now."""
        return dict(await self._call(system, "POST", "faults", fault))

    async def clear_faults(self, system: str) -> dict[str, Any]:
        return await self.add_fault(system, {"kind": "clear"})

    async def held(self) -> list[dict[str, Any]]:
        """The callbacks Sumsub's webhook network holds back, oldest first."""
        return list((await self.faults("sumsub")).get("network", {}).get("held", []))

    async def clock(self, system: str) -> float:
        return float((await self._call(system, "GET", "clock"))["time"])

    async def advance_clock(self, seconds: float) -> None:
        """Move the fakes' clock on. In a ``sim up`` stack they share one clock (with the service), so
        advancing Sumsub's moves them all; a fake on a clock of its own that did not move is advanced too."""
        moved = await self._call("sumsub", "POST", "clock/advance", {"seconds": seconds})
        for system in ("keycloak", "smtp"):
            if await self.clock(system) < float(moved["time"]) - 1.0:
                await self._call(system, "POST", "clock/advance", {"seconds": seconds})

    async def reset(self, system: str) -> Any:
        return await self._call(system, "POST", "reset")

    async def journal(self, system: str) -> list[dict[str, Any]]:
        return list((await self._call(system, "GET", "journal"))["entries"])

    async def journals(self) -> dict[str, list[dict[str, Any]]]:
        return {system: await self.journal(system) for system in SYSTEMS}

    async def timeline_events(self, since: float) -> list[TimelineEvent]:
        """The fakes' journals, from ``since`` on, as timeline events."""
        return [event for system, entries in (await self.journals()).items()
                for event in journal_events(system, entries, since)]


def _seconds(at: Any) -> float | None:
    if not isinstance(at, str):
        return None
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def _ok(status: Any, below: int = 400) -> bool:
    return isinstance(status, int) and status < below


def journal_events(system: str, entries: list[dict[str, Any]], since: float) -> list[TimelineEvent]:
    """One fake's ``/__admin/journal`` entries as timeline events, drawn as the in-process ones are."""
    lane, events = _LANES[system], []
    for entry in entries:
        at, kind = _seconds(entry.get("at")), entry.get("kind")
        if at is None or at < since:
            continue
        refs = {k: entry[k] for k in ("applicant_id", "external_user_id") if entry.get(k)}
        if kind == "request":
            path = str(entry.get("path", "")).split("?")[0]
            events.append(TimelineEvent(at, "Service", lane, "request", f"{entry.get('method')} {path} → "
                                        f"{entry.get('status')}", ok=_ok(entry.get("status"))))
        elif kind == "fault" and system == "smtp":
            events.append(TimelineEvent(at, "Worker", lane, "fault", f"{entry.get('stage')} → "
                                        f"{entry.get('code') or 'connection dropped'} (injected)", ok=False))
        elif kind == "fault":
            events.append(TimelineEvent(at, "Service", lane, "fault", f"{entry.get('method')} {entry.get('path')} "
                                        f"→ {entry.get('status')} (injected)", ok=False))
        elif kind == "message":
            to = ", ".join(entry.get("rcpt_to") or [])
            events.append(TimelineEvent(at, "Worker", lane, "email", f"“{entry.get('subject')}” to {to}",
                                        refs={"email": ",".join(entry.get("rcpt_to") or [])}))
        elif kind == "network" and entry.get("action") == "arrived":
            copy = f" (copy {entry['copy']})" if entry.get("copy") else ""
            events.append(TimelineEvent(at, "Sumsub", "Service", "callback", f"{entry.get('event_type')} "
                                        f"#{entry.get('attempt')}{copy} → {entry.get('status')}", refs=refs,
                                        ok=_ok(entry.get("status"), 300)))
        elif kind == "network" and entry.get("action") == "unanswered":
            events.append(TimelineEvent(at, "Sumsub", "Service", "callback", f"{entry.get('event_type')} "
                                        f"#{entry.get('attempt')} → {entry.get('error')}", refs=refs, ok=False))
        elif kind == "network" and entry.get("action") != "sent":
            detail = f" {entry['detail']}" if entry.get("detail") else ""
            events.append(TimelineEvent(at, "Sumsub", "Network", "network", f"{entry.get('action')}{detail}: "
                                        f"{entry.get('event_type')} #{entry.get('attempt')}", refs=refs,
                                        ok=entry.get("action") not in ("dropped", "ack_lost")))
    return events
