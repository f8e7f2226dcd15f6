"""One timeline of a run: every step, request, callback, job and email, across the service and the fakes.

Events carry the time of the sandbox's one clock (so a jump of the clock shows as one), who acted
and on whom (the lanes: QA, Service, Worker, Sumsub, Network, Keycloak, SMTP), and the customer they
concern, by the scenario's name for it. Shown three ways:

- ``timeline`` in a notebook (``_repr_html_``), or ``timeline.to_html()`` for ``--timeline OUT.html``:
  a sequence of arrows between lanes, self-contained (no script or font from elsewhere);
- ``timeline.to_mermaid()``: a Mermaid sequence diagram of the same;
- ``timeline.table()``: a DataFrame.

``lifecycle_durations`` and ``plot_lifecycles`` tell how long each customer took from creation to KYC,
approval and activity, from the service's own timestamps.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

__all__ = ["LANES", "Picture", "Timeline", "TimelineEvent", "events_from_fakes", "lifecycle_durations",
           "plot_latencies", "plot_lifecycles"]

LANES = ("QA", "Service", "Worker", "Sumsub", "Network", "Keycloak", "SMTP", "Clock")
_COLOURS = {"step": "#1f5fa8", "api": "#2f7d32", "callback": "#8a4baf", "network": "#b26a00", "job": "#555555",
            "request": "#00796b", "email": "#c2185b", "fault": "#c62828", "clock": "#6d4c41"}


@dataclass(frozen=True)
class TimelineEvent:
    at: float  # the sandbox clock's seconds since the epoch
    source: str  # a lane
    target: str
    kind: str  # step, api, callback, network, job, request, email, fault, clock
    label: str
    customer: str = ""  # the scenario's name for the customer, once known
    refs: Mapping[str, Any] = field(default_factory=dict)  # ids that tie it to a customer
    ok: bool = True


def _applicant_of(record: Any) -> str | None:
    return getattr(record, "applicant_id", None)


def events_from_fakes(*, sumsub_requests: Iterable[Any] = (), network: Iterable[Any] = (),
                      keycloak_requests: Iterable[Any] = (), keycloak_faults: Iterable[Any] = (),
                      sumsub_faults: Iterable[Any] = (), emails: Iterable[Any] = (), smtp_faults: Iterable[Any] = (),
                      since: float = 0.0) -> list[TimelineEvent]:
    """The fakes' own records (their journals), as timeline events."""
    events: list[TimelineEvent] = []
    for request in sumsub_requests:
        if request.at >= since:
            events.append(TimelineEvent(request.at, "Service", "Sumsub", "request",
                                        f"{request.method} {request.path.split('?')[0]} → {request.status}",
                                        ok=request.status is not None and request.status < 400))
    for record in network:
        if record.at < since:
            continue
        refs = {"external_user_id": record.message.external_user_id, "applicant_id": _applicant_of(record)}
        what = _callback_label(record.event_type, record.body)
        if record.action == "arrived":
            copy = f" (copy {record.copy})" if record.copy else ""
            events.append(TimelineEvent(record.at, "Sumsub", "Service", "callback",
                                        f"{what} #{record.attempt}{copy} → {record.status}", refs=refs,
                                        ok=record.status is not None and record.status < 300))
        elif record.action == "unanswered":
            events.append(TimelineEvent(record.at, "Sumsub", "Service", "callback",
                                        f"{what} #{record.attempt} → {record.error}", refs=refs, ok=False))
        elif record.action in ("sent",):
            continue  # the arrival (or what a rule did) says it
        else:
            detail = f" {record.detail}" if record.detail else ""
            events.append(TimelineEvent(record.at, "Sumsub", "Network", "network",
                                        f"{record.action}{detail}: {what} #{record.attempt}", refs=refs,
                                        ok=record.action not in ("dropped", "ack_lost")))
    for request in keycloak_requests:
        if request.at >= since:
            events.append(TimelineEvent(request.at, "Service", "Keycloak", "request",
                                        f"{request.method} {request.path} → {request.status}",
                                        ok=request.status is not None and request.status < 400))
    for fault in (*keycloak_faults, *sumsub_faults):
        if fault.at >= since:
            target = "Keycloak" if fault.path.startswith(("/realms", "/admin")) else "Sumsub"
            events.append(TimelineEvent(fault.at, "Service", target, "fault",
                                        f"{fault.method} {fault.path} → {fault.status} (injected)", ok=False))
    for fault in smtp_faults:
        if fault.at >= since:
            events.append(TimelineEvent(fault.at, "Worker", "SMTP", "fault",
                                        f"{fault.stage} → {fault.code or 'connection dropped'} (injected)", ok=False))
    for message in emails:
        at = message.received_at.timestamp()
        if at >= since:
            to = ", ".join(message.rcpt_tos)
            events.append(TimelineEvent(at, "Worker", "SMTP", "email", f"“{message.subject}” to {to}",
                                        refs={"email": ",".join(message.rcpt_tos)}))
    return events


def _callback_label(event_type: str | None, body: bytes) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        return event_type or "callback"
    result = payload.get("reviewResult") or {}
    answer = result.get("reviewAnswer")
    reject = result.get("reviewRejectType")
    review = f" {answer}" + (f"/{reject}" if reject else "") if answer and event_type == "applicantReviewed" else ""
    return f"{event_type}{review}"


class Timeline:
    def __init__(self, events: Iterable[TimelineEvent], *, title: str = "", start: float | None = None) -> None:
        self.events = sorted(events, key=lambda e: e.at)
        self.title = title
        self.start = start if start is not None else (self.events[0].at if self.events else 0.0)

    def __len__(self) -> int:
        return len(self.events)

    def named(self, aliases: Mapping[str, str]) -> Timeline:
        """The same events, each tied to its customer's name through any id it carries."""
        named = []
        for event in self.events:
            if event.customer:
                named.append(event)
                continue
            keys = [key for k, v in event.refs.items() for key in (f"{k}={v}", v if isinstance(v, str) else None)]
            found = next((aliases[key] for key in keys if key is not None and key in aliases), "")
            named.append(replace(event, customer=found) if found else event)
        return Timeline(named, title=self.title, start=self.start)

    def for_customer(self, customer: str) -> Timeline:
        return Timeline([e for e in self.events if (e.customer in ("", customer) and e.kind != "request")
                         or e.customer == customer], title=f"{self.title}: {customer}", start=self.start)

    def lanes(self) -> list[str]:
        used = {e.source for e in self.events} | {e.target for e in self.events}
        return [lane for lane in LANES if lane in used]

    # views
    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"t": f"+{e.at - self.start:.2f}s", "from": e.source, "to": e.target, "kind": e.kind,
                              "customer": e.customer, "what": e.label, "ok": e.ok} for e in self.events])

    def to_mermaid(self, *, limit: int | None = 400) -> str:
        lanes = self.lanes()
        lines = ["sequenceDiagram"] + [f"    participant {lane}" for lane in lanes]
        events = self.events if limit is None else self.events[:limit]
        for event in events:
            arrow = "->>" if event.ok else "-x"
            who = f"[{event.customer}] " if event.customer else ""
            text = f"+{event.at - self.start:.1f}s {who}{event.label}".replace(";", ",").replace("#", "no. ")
            if event.source == event.target:
                lines.append(f"    Note over {event.source}: {text}")
            else:
                lines.append(f"    {event.source}{arrow}{event.target}: {text}")
        if limit is not None and len(self.events) > limit:
            lines.append(f"    Note over {lanes[0]}: … {len(self.events) - limit} more events")
        return "\n".join(lines) + "\n"

    def mermaid(self) -> Mermaid:
        """The diagram for a notebook: JupyterLab draws a ```mermaid block itself."""
        return Mermaid(self.to_mermaid())

    def to_html(self, *, limit: int | None = 2000) -> str:
        lanes = self.lanes()
        column = {lane: i + 2 for i, lane in enumerate(lanes)}
        customers = sorted({e.customer for e in self.events if e.customer})
        rows = []
        shown = self.events if limit is None else self.events[:limit]
        for event in shown:
            a, b = column[event.source], column[event.target]
            lo, hi = min(a, b), max(a, b)
            direction = "self" if a == b else ("right" if b > a else "left")
            colour = _COLOURS.get(event.kind, "#333") if event.ok else _COLOURS["fault"]
            who = f"<b>{html.escape(event.customer)}</b> " if event.customer else ""
            rows.append(
                f'<div class="t" data-c="{html.escape(event.customer)}">+{event.at - self.start:.2f}s</div>'
                f'<div class="e {direction}" data-c="{html.escape(event.customer)}" '
                f'style="grid-column:{lo}/{hi + 1};--c:{colour}" title="{html.escape(event.kind)}">'
                f'<span>{who}{html.escape(event.label)}</span></div>')
        options = "".join(f'<option>{html.escape(c)}</option>' for c in customers)
        picker = (f'<label>customer <select onchange="var v=this.value;this.closest(\'.sim-timeline\')'
                  f'.querySelectorAll(\'[data-c]\').forEach(function(n){{n.style.display=(!v||n.dataset.c===v'
                  f'||!n.dataset.c)?\'\':\'none\'}})"><option value="">all</option>{options}</select></label>'
                  if customers else "")
        more = (f'<p class="more">… and {len(self.events) - len(shown)} more events (see the table)</p>'
                if len(shown) < len(self.events) else "")
        header = "".join(f'<div class="h" style="grid-column:{column[lane]}">{lane}</div>' for lane in lanes)
        template = len(lanes)
        return f"""<div class="sim-timeline">
<style>
.sim-timeline{{font:12px/1.35 system-ui,sans-serif;color:#222}}
.sim-timeline .grid{{display:grid;grid-template-columns:6em repeat({template},minmax(7em,1fr));
  row-gap:2px;max-height:36em;overflow-y:auto;border:1px solid #ddd;padding:4px}}
.sim-timeline .h{{position:sticky;top:0;background:#f4f4f4;font-weight:600;text-align:center;
  border-bottom:1px solid #ccc;grid-row:1}}
.sim-timeline .t{{grid-column:1;color:#777;font-variant-numeric:tabular-nums}}
.sim-timeline .e{{border-bottom:2px solid var(--c);color:var(--c);position:relative;padding:0 .6em;
  white-space:nowrap;overflow:hidden;text-overflow:ellipsis}}
.sim-timeline .e.right::after{{content:"▶";position:absolute;right:-2px;bottom:-9px}}
.sim-timeline .e.left::before{{content:"◀";position:absolute;left:-2px;bottom:-9px}}
.sim-timeline .e.self{{border:1px dashed var(--c);border-radius:3px}}
.sim-timeline .more{{color:#777}}
</style>
<p><b>{html.escape(self.title or "Timeline")}</b> — {len(self.events)} events. {picker}</p>
<div class="grid">{header}
{"".join(rows)}
</div>{more}</div>"""

    def _repr_html_(self) -> str:
        return self.to_html()

    def save_html(self, path: Any) -> None:
        from pathlib import Path

        Path(path).write_text(f"<!doctype html><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                              f"<body>{self.to_html(limit=None)}</body>\n")


@dataclass(frozen=True)
class Mermaid:
    source: str

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.source}```\n"

    def __str__(self) -> str:
        return self.source


class Picture:
    """A matplotlib figure shown as a PNG in a notebook, or saved; drawn without pyplot, so no
    window and no second copy."""

    def __init__(self, figure: Any) -> None:
        self.figure = figure

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()

    def save(self, path: Any) -> None:
        self.figure.savefig(path, dpi=96, bbox_inches="tight")


# lifecycles, from the service's own view of each customer

def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def lifecycle_durations(customers: Mapping[str, Mapping[str, Any]]) -> Any:
    """One row per customer: seconds from creation to KYC started, to the review applied, and to
    active (the last activation step done), from ``GET /api/customers/{id}``."""
    import pandas as pd

    rows = []
    for name, customer in customers.items():
        created = _time(customer.get("created_at"))
        kyc = customer.get("kyc") or {}
        started, reviewed = _time(kyc.get("started_at")), _time(kyc.get("reviewed_at"))
        steps = customer.get("provisioning") or {}
        activation = [moment for s in ("keycloak_user", "welcome_email", "deposit_account")
                      if s in steps and steps[s]["status"] == "done"
                      and (moment := _time(steps[s]["updated_at"])) is not None]
        active = max(activation) if len(activation) == 3 and customer.get("activity_status") != "inactive" else None

        def since(moment: datetime | None, origin: datetime | None = created) -> float | None:
            return None if moment is None or origin is None else round((moment - origin).total_seconds(), 3)

        rows.append({"customer": name, "type": customer.get("customer_type"),
                     "kyc_status": customer.get("kyc_status"), "activity_status": customer.get("activity_status"),
                     "to_kyc_started_s": since(started), "to_reviewed_s": since(reviewed),
                     "to_active_s": since(active), "review_to_active_s": since(active, reviewed)})
    return pd.DataFrame(rows).set_index("customer") if rows else pd.DataFrame()


def plot_lifecycles(durations: Any, *, title: str = "Lifecycle of each customer") -> Picture:
    """Stacked bars per customer: creation → KYC started → review applied → active."""
    from matplotlib.figure import Figure

    shown = durations.head(40)
    figure = Figure(figsize=(8, 0.6 + 0.32 * max(len(shown), 1)))
    axes = figure.subplots()
    names = list(shown.index)
    phases = [("created → KYC started", "to_kyc_started_s", None, "#90caf9"),
              ("→ review applied", "to_reviewed_s", "to_kyc_started_s", "#ce93d8"),
              ("→ active", "to_active_s", "to_reviewed_s", "#a5d6a7")]
    for label, end, begin, colour in phases:
        lefts = [float(shown[begin].iloc[i] or 0) if begin else 0.0 for i in range(len(shown))]
        widths = [max(float(shown[end].iloc[i]) - lefts[i], 0.0) if shown[end].iloc[i] == shown[end].iloc[i]
                  and shown[end].iloc[i] is not None else 0.0 for i in range(len(shown))]
        axes.barh(names, widths, left=lefts, color=colour, label=label)
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the customer was created")
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return Picture(figure)


def plot_latencies(durations: Any, column: str = "review_to_active_s", *,
                   title: str = "From approval to active") -> Picture:
    """A histogram of one duration over many customers, with its median and 95th percentile."""
    from matplotlib.figure import Figure

    values = durations[column].dropna().astype(float)
    figure = Figure(figsize=(7, 3.2))
    axes = figure.subplots()
    axes.hist(values, bins=min(30, max(5, len(values) // 5)), color="#64b5f6", edgecolor="white")
    for quantile, style in ((0.5, "-"), (0.95, "--")):
        if len(values):
            mark = float(values.quantile(quantile))
            axes.axvline(mark, color="#c62828", linestyle=style, label=f"p{int(quantile * 100)} {mark:.2f} s")
    axes.set_xlabel("seconds")
    axes.set_ylabel("customers")
    axes.set_title(f"{title} ({len(values)} customers)")
    if len(values):
        axes.legend(fontsize="small")
    figure.tight_layout()
    return Picture(figure)


def merge(*parts: Sequence[TimelineEvent]) -> list[TimelineEvent]:
    return [event for part in parts for event in part]
