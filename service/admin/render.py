"""Server-rendered pages: Jinja templates under ``templates/``, escaped by default."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response

from service.auth.permissions import Permission
from service.customers.domain import CustomerType

__all__ = ["CUSTOMER_TYPE_LABELS", "HTML_HEADERS", "render", "render_fragment"]

TEMPLATES = Path(__file__).parent / "templates"

CUSTOMER_TYPE_LABELS = {
    CustomerType.INDIVIDUAL: "Individual",
    CustomerType.GOVERNMENT_ENTITY: "Government entity",
    CustomerType.PRIVATE_COMPANY: "Private company",
    CustomerType.BANK: "Bank",
    CustomerType.FINANCIAL_INSTITUTION: "Financial institution",
    CustomerType.FOREIGN_AGENCY_OR_SUBSIDIARY: "Foreign agency or subsidiary",
    CustomerType.NON_DOMICILED_COMPANY: "Non-domiciled company",
}

# the tone of a status badge: what an operator should notice at a glance
_TONES = {
    "active": "good", "approved": "good", "verified": "good", "basic": "good", "done": "good", "processed": "good",
    "allowed": "good", "open": "good",
    "pending": "wait", "pending_verification": "wait", "review_needed": "warn", "received": "wait",
    "inactive": "quiet", "not_started": "quiet", "not_kyced": "quiet", "ignored": "quiet",
    "suspended": "bad", "rejected": "bad", "failed": "bad", "orphan": "warn", "denied": "bad", "frozen": "bad",
}


def _label(value: object) -> str:
    text = str(value or "")
    if text in CUSTOMER_TYPE_LABELS:
        return CUSTOMER_TYPE_LABELS[CustomerType(text)]
    special = {"not_kyced": "Not KYCed", "kyc": "KYC"}
    return special.get(text, text.replace("_", " ").capitalize())


def _money(cents: int | None) -> str:
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


_environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                           trim_blocks=True, lstrip_blocks=True)
_environment.filters.update(label=_label, money=_money, when=_when, tone=lambda v: _TONES.get(str(v), "quiet"))
_environment.globals.update(Permission=Permission, customer_types=CUSTOMER_TYPE_LABELS)

HTML_HEADERS = {"Cache-Control": "no-store"}


def render_fragment(template: str, **context: Any) -> str:
    return _environment.get_template(template).render(**context)


def render(request: Request[Any, Any, Any], template: str, *, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> Response[str]:
    operator = request.scope.get("state", {}).get("operator")
    body = render_fragment(template, request=request, operator=operator, path=request.url.path, **context)
    return Response(body, status_code=status, media_type="text/html", headers={**HTML_HEADERS, **(headers or {})})
