"""HTTP edge of the customers API: parse, call the customers' service, answer."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from service.auth.guards import requires
from service.auth.permissions import Permission
from service.customers import repository, service
from service.customers.domain import StatusFilter
from service.customers.schemas import CustomerCreate, CustomerPage, CustomerView
from service.dependencies import AppSettings, Sessions
from service.openapi import OPERATOR, operator_problems
from service.problems import Problem

__all__ = ["CustomerController"]

CustomerReference = Annotated[str, PathParameter(description="the customer's UUID or public id (C1000)",
                                                 max_length=64)]


class CustomerController(Controller):
    path = "/api/customers"
    tags = ["customers"]

    @post("/", guards=[requires(Permission.CUSTOMER_CREATE)], status_code=201,
          summary="Create a customer", operation_id="createCustomer", security=OPERATOR,
          responses=operator_problems(409, 422, codes={409: ("duplicate_email", "duplicate_telegram_id")}))
    async def create_customer(self, data: JSONBody[CustomerCreate],
                              sessions: Sessions) -> CustomerView:
        return await service.create_customer(sessions, email=data.email, customer_type=data.customer_type,
                                             telegram_id=data.telegram_id)

    @get("/", guards=[requires(Permission.CUSTOMER_READ)], summary="List customers", operation_id="listCustomers",
         security=OPERATOR, responses=operator_problems(422))
    async def list_customers(
        self,
        sessions: Sessions,
        settings: AppSettings,
        status: FromQuery[StatusFilter | None] = None,
        q: Annotated[str | None, QueryParameter(max_length=254, description="email fragment or public id")] = None,
        sort: FromQuery[Literal["created_at", "-created_at"]] = "-created_at",
        limit: Annotated[int | None, QueryParameter(description="page size")] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=512)] = None,
    ) -> CustomerPage:
        page_size = settings.page_size_default if limit is None else limit
        if not 1 <= page_size <= settings.page_size_max:
            raise Problem(422, "invalid_input", f"limit must be between 1 and {settings.page_size_max}",
                          field="limit")
        try:
            return await service.list_customers(sessions, status=status, search=q.strip() if q else None,
                                                newest_first=sort == "-created_at", limit=page_size, cursor=cursor,
                                                cursor_key=settings.signing_key("customer-list-cursor"))
        except repository.InvalidCursor as exc:
            raise Problem(422, "invalid_input", str(exc), field="cursor") from exc

    @get("/{customer_id:str}", guards=[requires(Permission.CUSTOMER_READ)], summary="Get one customer",
         operation_id="getCustomer", security=OPERATOR, responses=operator_problems(404, 422))
    async def get_customer(self, customer_id: CustomerReference,
                           sessions: Sessions) -> CustomerView:
        return await service.get_customer(sessions, customer_id)

    @post("/{customer_id:str}/deactivate", guards=[requires(Permission.CUSTOMER_UPDATE)], status_code=200,
          summary="Deactivate (suspend) a customer", operation_id="deactivateCustomer", security=OPERATOR,
          responses=operator_problems(404, 422))
    async def deactivate_customer(self, customer_id: CustomerReference,
                                  sessions: Sessions) -> CustomerView:
        return await service.deactivate_customer(sessions, customer_id)
