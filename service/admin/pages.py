"""The panel's pages and actions: parse the form, call the backend, render the answer.

Each handler's guard names the permission of its JSON API twin; the templates offer an action only
to an operator who holds its permission, and the guard refuses it anyway to anyone else.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect

from service.admin import backend
from service.admin.access import Panel, current_operator
from service.admin.render import render
from service.auth.audit import record_decision
from service.auth.permissions import Permission
from service.customers.controller import CustomerReference
from service.customers.domain import ActivityStatus, CustomerType, InvalidCustomerField, KycStatus, StatusFilter
from service.customers.repository import DuplicateCustomer
from service.customers.schemas import CustomerView
from service.ledger.domain import AccountFrozen, EntryKind, InsufficientFunds, InvalidAmount, validate_amount_cents
from service.problems import Problem

__all__ = ["page_handlers", "still_changing"]

PAGE_SIZE = 20
STATUS_CHOICES = ("all", *[s.value for s in (StatusFilter.ACTIVE, StatusFilter.INACTIVE, StatusFilter.PENDING,
                                             StatusFilter.SUSPENDED)])
SORT_CHOICES = {"newest": True, "oldest": False}
FIELD_LABELS = {"email": "Email", "telegram_id": "Telegram ID", "customer_type": "Customer type"}
FIELD_NOUNS = {"email": "email address", "telegram_id": "Telegram ID", "customer_type": "customer type"}


def still_changing(customer: CustomerView) -> bool:
    """Whether a webhook or a job may still change what the page shows, without an operator acting:
    while it may, the page polls; once nothing can, polling stops."""
    if any(step.status == "pending" for step in (customer.provisioning or {}).values()):
        return True
    if customer.activity_status == ActivityStatus.SUSPENDED.value:
        return False
    if customer.kyc_status == KycStatus.NOT_STARTED.value:
        return False  # waits for an operator to generate the link
    if customer.kyc_status == KycStatus.REJECTED.value and customer.kyc.reject_type == "FINAL":
        return False
    return not (customer.kyc_status == KycStatus.APPROVED.value
                and customer.activity_status == ActivityStatus.ACTIVE.value)


def _amount_cents(raw: str) -> int:
    """Dollars and cents as typed ("125", "125.50", "1,250.00") to integer cents."""
    try:
        amount = Decimal(raw.replace(",", "").replace("$", "").strip())
    except InvalidOperation:
        raise InvalidAmount("amount", "must be an amount in dollars, such as 125.00") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise InvalidAmount("amount", "must be in dollars and cents, at most two decimals")
    cents = int(amount * 100)
    validate_amount_cents(cents)
    return cents


def page_handlers(panel: Panel) -> list[Any]:
    settings = panel.settings
    requires = panel.requires

    @get("/", opt={"public": True}, include_in_schema=False)
    async def home() -> Redirect:
        return Redirect("/admin/customers", status_code=302)

    async def _customer_list(request: Request[Any, Any, Any], status: str, q: str, sort: str,
                             cursor: str | None) -> dict[str, Any]:
        status = status if status in STATUS_CHOICES else "all"
        sort = sort if sort in SORT_CHOICES else "newest"
        try:
            page = await backend.customers(
                request.app.state.sessions, settings, status=None if status == "all" else StatusFilter(status),
                search=q.strip() or None, newest_first=SORT_CHOICES[sort], limit=PAGE_SIZE, cursor=cursor)
        except Problem:  # a cursor that does not decode: start from the first page
            page = await backend.customers(
                request.app.state.sessions, settings, status=None if status == "all" else StatusFilter(status),
                search=q.strip() or None, newest_first=SORT_CHOICES[sort], limit=PAGE_SIZE, cursor=None)
            cursor = None
        filters = {"status": status, "q": q.strip(), "sort": sort}
        query = {k: v for k, v in filters.items() if v and not (k == "status" and v == "all")
                 and not (k == "sort" and v == "newest")}
        return {
            "customers": page.items, "filters": filters, "cursor": cursor,
            "filtered": bool(query),
            "next_url": "/admin/customers?" + urlencode({**filters, "cursor": page.next_cursor})
            if page.next_cursor else None,
            "first_url": "/admin/customers" + (f"?{urlencode(query)}" if query else "") if cursor else None,
            "rows_url": "/admin/customers/rows?" + urlencode({**filters, **({"cursor": cursor} if cursor else {})}),
            "live": any(still_changing(c) for c in page.items),
            "status_choices": STATUS_CHOICES,
        }

    @get("/customers", guards=[requires(Permission.CUSTOMER_READ)], include_in_schema=False)
    async def customers(request: Request[Any, Any, Any], status: FromQuery[str] = "all", q: FromQuery[str] = "",
                        sort: FromQuery[str] = "newest", cursor: FromQuery[str | None] = None) -> Response[str]:
        return render(request, "customers.html", **await _customer_list(request, status, q, sort, cursor))

    @get("/customers/rows", guards=[requires(Permission.CUSTOMER_READ)], include_in_schema=False)
    async def customer_rows(request: Request[Any, Any, Any], status: FromQuery[str] = "all",
                            q: FromQuery[str] = "", sort: FromQuery[str] = "newest",
                            cursor: FromQuery[str | None] = None) -> Response[str]:
        return render(request, "customer_rows.html", **await _customer_list(request, status, q, sort, cursor))

    @get("/customers/new", guards=[requires(Permission.CUSTOMER_CREATE)], include_in_schema=False)
    async def new_customer(request: Request[Any, Any, Any]) -> Response[str]:
        return render(request, "customer_new.html", form={}, errors={}, review=False)

    @post("/customers", guards=[requires(Permission.CUSTOMER_CREATE)], include_in_schema=False, status_code=200)
    async def create_customer(request: Request[Any, Any, Any]) -> Response[Any]:
        """Review (no ``confirmed``): check the entries and show them in a confirmation dialog.
        Confirm: create, and land on the new customer's page; a refusal goes next to its field."""
        form = {name: str((await request.form()).get(name, "")).strip()
                for name in ("email", "telegram_id", "customer_type")}
        errors: dict[str, str] = {}
        if not form["email"]:
            errors["email"] = "Enter the customer's email address."
        if form["customer_type"] not in {t.value for t in CustomerType}:
            errors["customer_type"] = "Choose the customer type."
        confirmed = (await request.form()).get("confirmed") == "yes"
        if not errors and confirmed:
            try:
                created = await backend.create_customer(
                    request.app.state.sessions, email=form["email"], customer_type=CustomerType(form["customer_type"]),
                    telegram_id=form["telegram_id"] or None)
            except InvalidCustomerField as exc:
                errors[exc.field] = f"{FIELD_LABELS.get(exc.field, exc.field)} {exc.message}."
            except DuplicateCustomer as exc:
                errors[exc.field] = f"Another customer already has this {FIELD_NOUNS.get(exc.field, exc.field)}."
            else:
                return Redirect(f"/admin/customers/{created.public_id}?created=1", status_code=303)
        status = 200 if not errors else (409 if confirmed and any("already" in e for e in errors.values()) else 422)
        return render(request, "customer_new.html", status=status, form=form, errors=errors,
                      review=not errors and not confirmed)

    async def _detail_context(request: Request[Any, Any, Any], reference: CustomerReference) -> dict[str, Any]:
        sessions = request.app.state.sessions
        customer = await backend.customer(sessions, reference)
        operator = current_operator(request)
        account = None
        if operator.may(Permission.ACCOUNT_READ):
            # the account is the ACCOUNT_READ twin of GET /api/customers/{id}/account: audited as such
            await record_decision(sessions, subject=operator.username, action=Permission.ACCOUNT_READ.value,
                                  object=request.url.path, decision="allowed",
                                  request_id=request.scope.get("state", {}).get("request_id"))
            account = await backend.deposit_account(sessions, str(customer.id))
        return {"customer": customer, "callbacks": await backend.customer_callbacks(sessions, str(customer.id)),
                "account": account, "live": still_changing(customer)}

    @get("/customers/{reference:str}", guards=[requires(Permission.CUSTOMER_READ)], include_in_schema=False)
    async def customer_detail(request: Request[Any, Any, Any], reference: CustomerReference,
                              created: FromQuery[bool] = False) -> Response[str]:
        return render(request, "customer.html", created=created, kyc_link=None, kyc_error=None, money=None,
                      **await _detail_context(request, reference))

    @get("/customers/{reference:str}/live", guards=[requires(Permission.CUSTOMER_READ)], include_in_schema=False)
    async def customer_live(request: Request[Any, Any, Any], reference: CustomerReference) -> Response[str]:
        return render(request, "customer_live.html", oob=True, money=None,
                      **await _detail_context(request, reference))

    @post("/customers/{reference:str}/kyc-link", guards=[requires(Permission.CUSTOMER_UPDATE)],
          include_in_schema=False, status_code=200)
    async def kyc_link(request: Request[Any, Any, Any], reference: CustomerReference) -> Response[str]:
        link, error = None, None
        try:
            link = await backend.start_kyc(request, request.app.state.sessions, settings, reference)
        except Problem as exc:
            error = exc.detail
        context = await _detail_context(request, reference)
        if isinstance(request, HTMXRequest) and request.htmx:
            return render(request, "kyc_link.html", kyc_link=link, kyc_error=error, oob=True, money=None, **context)
        return render(request, "customer.html", created=False, kyc_link=link, kyc_error=error, money=None, **context)

    @post("/customers/{reference:str}/deactivate", guards=[requires(Permission.CUSTOMER_UPDATE)],
          include_in_schema=False, status_code=303)
    async def deactivate(request: Request[Any, Any, Any], reference: CustomerReference) -> Redirect:
        customer = await backend.deactivate(request.app.state.sessions, reference)
        return Redirect(f"/admin/customers/{customer.public_id}", status_code=303)

    async def _money(request: Request[Any, Any, Any], reference: str, kind: EntryKind) -> Response[Any]:
        raw = str((await request.form()).get("amount", ""))
        message: dict[str, Any]
        try:
            cents = _amount_cents(raw)
            posted = await backend.post_entry(request.app.state.sessions, kind, reference, cents)
        except InvalidAmount as exc:
            message = {"kind": kind.value, "ok": False, "text": f"Amount {exc}".replace("amount: ", "")}
        except InsufficientFunds as exc:
            message = {"kind": kind.value, "ok": False,
                       "text": f"Refused: the balance (${exc.balance_cents / 100:,.2f}) does not cover "
                               f"${exc.requested_cents / 100:,.2f}. Nothing was posted."}
        except (AccountFrozen, Problem) as exc:
            message = {"kind": kind.value, "ok": False, "text": f"Refused: {exc}"}
        else:
            message = {"kind": kind.value, "ok": True,
                       "text": f"{kind.value.capitalize()} of ${posted.entry.amount_cents / 100:,.2f} posted."}
        if not (isinstance(request, HTMXRequest) and request.htmx):
            return Redirect(f"/admin/customers/{reference}", status_code=303)
        context = await _detail_context(request, reference)
        # a refusal is an answer to show in place (htmx swaps only 2xx answers)
        return render(request, "account.html", money=message, oob=False, **context)

    @post("/customers/{reference:str}/deposits", guards=[requires(Permission.DEPOSIT_CREATE)],
          include_in_schema=False, status_code=200)
    async def deposit(request: Request[Any, Any, Any], reference: CustomerReference) -> Response[Any]:
        return await _money(request, reference, EntryKind.DEPOSIT)

    @post("/customers/{reference:str}/withdrawals", guards=[requires(Permission.WITHDRAWAL_CREATE)],
          include_in_schema=False, status_code=200)
    async def withdrawal(request: Request[Any, Any, Any], reference: CustomerReference) -> Response[Any]:
        return await _money(request, reference, EntryKind.WITHDRAWAL)

    @get("/callbacks", guards=[requires(Permission.CUSTOMER_READ)], include_in_schema=False)
    async def callbacks(request: Request[Any, Any, Any]) -> Response[str]:
        rows = await backend.callbacks_needing_attention(request.app.state.sessions)
        return render(request, "callbacks.html", callbacks=rows)

    @get("/audit", guards=[requires(Permission.AUDIT_READ)], include_in_schema=False)
    async def audit(request: Request[Any, Any, Any], subject: FromQuery[str] = "") -> Response[str]:
        entries = await backend.audit_entries(request.app.state.sessions, subject=subject.strip() or None, limit=200)
        return render(request, "audit.html", entries=entries, subject=subject.strip())

    return [home, customers, customer_rows, new_customer, create_customer, customer_detail, customer_live, kyc_link,
            deactivate, deposit, withdrawal, callbacks, audit]
