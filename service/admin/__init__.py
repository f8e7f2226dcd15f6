"""The admin panel at ``/admin``: server-rendered pages with htmx, for operators of the admin realm.

``admin_router(settings)`` is all the application needs to mount it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar import Request, Response, Router
from litestar.datastructures import ResponseHeader
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from service.admin.access import Panel, PanelForbidden, PanelNotConfigured, SignInRequired
from service.admin.pages import page_handlers
from service.admin.render import render
from service.admin.sign_in import sign_in_handlers
from service.customers.repository import CustomerNotFound
from service.problems import Problem
from service.settings import Settings

__all__ = ["admin_router", "sign_in_redirect"]

STATIC = Path(__file__).parent / "static"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in_redirect(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    target = "/admin/login?" + urlencode({"next": exc.next_path})
    # exception handlers get the application's plain Request, not the router's HTMXRequest
    if HTMXRequest(request.scope).htmx:
        return ClientRedirect(target)  # htmx follows it with a full page load
    return Redirect(target, status_code=302)


def _error_page(status: int, title: str) -> Any:
    def handler(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
        detail = exc.detail if isinstance(exc, PanelForbidden | Problem) else str(exc)
        return render(request, "error.html", status=getattr(exc, "status", status), title=title, detail=detail)
    return handler


def admin_router(settings: Settings) -> Router:
    panel = Panel(settings)
    # the panel loads only its own files; its forms post to itself, and signing out goes to Keycloak
    policy = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
              f"form-action 'self' {_origin(settings.keycloak_url)}; frame-ancestors 'none'; base-uri 'none'")
    return Router(
        "/admin",
        route_handlers=[*sign_in_handlers(panel), *page_handlers(panel),
                        create_static_files_router("/static", [STATIC], opt={"public": True},
                                                   name="admin-static")],
        request_class=HTMXRequest,
        include_in_schema=False,
        response_headers=[ResponseHeader(name="Content-Security-Policy", value=policy),
                          ResponseHeader(name="X-Frame-Options", value="DENY"),
                          ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
                          ResponseHeader(name="Referrer-Policy", value="same-origin")],
        exception_handlers={
            SignInRequired: sign_in_redirect,
            PanelForbidden: _error_page(403, "Not allowed"),
            PanelNotConfigured: _error_page(503, "The panel is not configured"),
            CustomerNotFound: _error_page(404, "No such customer"),
            Problem: _error_page(400, "That did not work"),
        },
    )
