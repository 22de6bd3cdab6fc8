"""What every desk page shares: the :class:`Desk` (archive, guard, sessions, templates),
the security headers, the login check with its role, CSRF, and rendering.

Security headers on every response: a Content-Security-Policy allowing only the desk's own
files (no inline script, no framing, forms only to itself), ``X-Frame-Options: DENY``,
``Referrer-Policy: no-referrer``, ``X-Content-Type-Options: nosniff``, and
``Cache-Control: no-store`` on everything but the static CSS and script (pages and files
hold health data). Over HTTPS also ``Strict-Transport-Security`` and Secure cookies.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exporter.clock import local_time
from exporter.desk.data import DeskData
from exporter.desk.guard import LoginGuard, Session, Sessions, same_token
from exporter.desk.staff import can

__all__ = ["COOKIE", "FAILED", "Desk", "PlainErrors", "SecurityHeaders", "Visitor", "desk_of",
           "page", "render", "requires"]

_log = logging.getLogger("exporter.desk")

COOKIE = "desk_session"
LOGIN_COOKIE = "desk_login"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """ASGI middleware adding the security headers to every response."""

    def __init__(self, app: ASGIApp, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer"),
                            (b"x-content-type-options", b"nosniff"),
                            (b"cache-control", b"max-age=300" if static else b"no-store")]
                if self.https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    def source(name: str) -> str:
        for package in ("exporter.desk", "exporter.careplan"):
            path = resources.files(package).joinpath("templates").joinpath(name)
            if path.is_file():
                return path.read_text("utf-8")
        raise jinja2.TemplateNotFound(name)

    env = jinja2.Environment(loader=jinja2.FunctionLoader(source),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["local_time"] = local_time
    env.filters["breakable"] = lambda value: str(value)
    return env


@dataclass
class Desk:
    """Everything the pages need, kept in ``app.state.desk``."""

    data: DeskData
    guard: LoginGuard
    sessions: Sessions
    organisation: str
    https: bool = False


#: The page of an unexpected failure: nothing of the request, the error or the archive in it.
FAILED = ("Something went wrong showing this page; it has been written to the log. Try again, "
          "or print from the office PC.")


class PlainErrors:
    """ASGI middleware: an unexpected exception in a page becomes a plain 500 page, its
    traceback going to exporter's log file only. Starlette's own handler re-raises it for the
    server to print ("Exception in ASGI application") on the desk's console and logon log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if getattr(exc, "personal", False):  # its message names clients: the kind only
                _log.error("a desk page failed unexpectedly: %s", type(exc).__name__)
            else:
                _log.error("a desk page failed unexpectedly\n%s", traceback.format_exc())
            if not started:  # else the browser sees the page cut short; nothing more to say
                await _failed_page(scope)(scope, receive, send)


def _failed_page(scope: Scope) -> Response:
    try:
        return message(Request(scope), None, "Something went wrong", FAILED, 500)
    except Exception:  # the template or the desk's state is what failed: the bare sentence
        return HTMLResponse(f"<!doctype html><title>Something went wrong</title><p>{FAILED}</p>",
                            status_code=500)


def desk_of(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


@dataclass(frozen=True)
class Visitor:
    """A logged-in staff member on this request."""

    name: str
    role: str
    session: Session

    def can(self, action: str) -> bool:
        return can(self.role, action)


def render(request: Request, template: str, visitor: Visitor | None = None,
           status: int = 200, **context: Any) -> HTMLResponse:
    desk = desk_of(request)
    html = _env().get_template(template).render(
        organisation=desk.organisation, banner=desk.data.banner,
        user=visitor.name if visitor else "", role=visitor.role if visitor else "",
        csrf=visitor.session.csrf if visitor else "",
        can=visitor.can if visitor else (lambda _action: False), **context)
    return HTMLResponse(html, status_code=status)


def message(request: Request, visitor: Visitor | None, heading: str, text: str,
            status: int) -> HTMLResponse:
    return render(request, "message.html", visitor, status=status, heading=heading,
                  message=text, page="")


Handler = Callable[[Request, Visitor], Awaitable[Response]]


def requires(action: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A page for staff whose role allows ``action``: others are sent to log in (no or an
    expired session), or refused (403); a POST must carry the session's CSRF token."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            desk = desk_of(request)
            token = request.cookies.get(COOKIE)
            session = desk.sessions.get(token)
            if session is None:
                where = "/login?ended=1" if token else "/login"
                return RedirectResponse(where, status_code=303)
            role = await desk.data.call(desk.data.role_of, session.name)
            if role is None:  # the account was removed
                desk.sessions.end(token)
                return RedirectResponse("/login", status_code=303)
            visitor = Visitor(session.name, role, session)
            if request.method == "POST":
                form = await request.form()
                if not same_token(str(form.get("csrf") or ""), session.csrf):
                    return message(request, visitor, "This form has expired",
                                   "The page was too old or did not come from the desk: go "
                                   "back, reload the page and try again.", 403)
            if not visitor.can(action):
                return message(request, visitor, "Not for your role",
                               f"Your role ({role}) does not include this page; ask the "
                               "office manager if you need it.", 403)
            return await handler(request, visitor)

        return endpoint

    return wrap


async def page(request: Request) -> Visitor | None:
    """The visitor of a page open to everyone (the login page), if logged in."""
    desk = desk_of(request)
    session = desk.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        return None
    role = await desk.data.call(desk.data.role_of, session.name)
    return Visitor(session.name, role, session) if role else None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, samesite="strict",
                        secure=desk_of(request).https, path="/")
