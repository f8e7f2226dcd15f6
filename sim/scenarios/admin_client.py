"""A client of the fakes' admin API (``/__admin/`` on each fake, as the contract's section 6 names it),
for scenarios run against a stack in other processes.

    GET  /__admin/journal                          what the fake received and answered
    POST /__admin/reset
    GET  /__admin/faults   POST /__admin/faults    the faults the Python API offers, as JSON
    POST /__admin/applicants/{applicantId}/review  {"answer": "GREEN"} or {"answer": "RED",
                                                   "rejectType": "RETRY"|"FINAL", "labels": [...]}
    POST /__admin/applicants/{applicantId}/submit, .../on-hold

A fault is posted as ``{"kind": ..., <its arguments>}``, the kind named as the Python method is
(``outage``, ``fail_next``; on Sumsub also the network's ``network.hold``, ``network.release`` ...).
"""

from __future__ import annotations

from typing import Any

import httpx

from sim.scenarios.timeline import TimelineEvent

__all__ = ["AdminApiMissing", "AdminClient"]


class AdminApiMissing(RuntimeError):
    """The fake answered 404 or 405 on an admin path: it does not offer that (yet)."""


class AdminClient:
    def __init__(self, *, sumsub_url: str, keycloak_url: str, smtp_api_url: str, timeout: float = 10.0) -> None:
        self.urls = {"sumsub": sumsub_url.rstrip("/"), "keycloak": keycloak_url.rstrip("/"),
                     "smtp": smtp_api_url.rstrip("/")}
        self.timeout = timeout

    async def _call(self, system: str, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.urls[system], timeout=self.timeout) as http:
            response = await http.request(method, f"/__admin/{path}", json=body)
        if response.status_code in (404, 405):
            raise AdminApiMissing(f"{system} fake at {self.urls[system]} has no {method} /__admin/{path} "
                                  f"({response.status_code})")
        response.raise_for_status()
        return response.json() if response.content else None

    async def applicant_action(self, applicant_id: str, action: str, body: dict[str, Any] | None = None) -> Any:
        return await self._call("sumsub", "POST", f"applicants/{applicant_id}/{action}", body or {})

    async def faults(self, system: str) -> Any:
        return await self._call(system, "GET", "faults")

    async def add_fault(self, system: str, fault: dict[str, Any]) -> Any:
        return await self._call(system, "POST", "faults", {k: v for k, v in fault.items() if v is not None})

    async def clear_faults(self, system: str) -> Any:
        return await self._call(system, "POST", "faults", {"kind": "clear"})

    async def advance_clock(self, seconds: float) -> Any:
        return await self._call("sumsub", "POST", "clock/advance", {"seconds": seconds})

    async def reset(self, system: str) -> Any:
        return await self._call(system, "POST", "reset")

    async def journal(self, system: str) -> Any:
        return await self._call(system, "GET", "journal")

    async def journals(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for system in self.urls:
            try:
                found[system] = await self.journal(system)
            except (AdminApiMissing, httpx.HTTPError) as exc:
                found[system] = {"unavailable": str(exc)}
        return found

    async def timeline_events(self, since: float) -> list[TimelineEvent]:
        """The journals' entries as timeline events, read leniently: any entry with a time, a method
        and a path (or an event type) becomes one."""
        events = []
        targets = {"sumsub": "Sumsub", "keycloak": "Keycloak", "smtp": "SMTP"}
        for system, journal in (await self.journals()).items():
            entries = journal.get("entries", journal.get("journal", [])) if isinstance(journal, dict) else journal
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, dict):
                    continue
                at = entry.get("at") or entry.get("time") or 0.0
                if not isinstance(at, int | float) or at < since:
                    continue
                status = entry.get("status")
                label = " ".join(str(entry[k]) for k in ("method", "path", "event_type", "type", "subject")
                                 if entry.get(k)) + (f" → {status}" if status is not None else "")
                events.append(TimelineEvent(float(at), "Service", targets[system], "request", label,
                                            ok=not isinstance(status, int) or status < 400))
        return events
