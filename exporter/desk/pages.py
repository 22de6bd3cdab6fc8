"""The desk's pages: log in and out, find a client (POST: nothing of the query in the URL),
the client's care plan and its PDF, documents, visits, staff accounts.

Clients are addressed by an opaque token (exporter.desk.search); every view and print is
audited with the staff member's name (``desk.view``, ``desk.print``, ``desk.document``,
``desk.visits``), through the sealed journal, before the page is sent.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exporter.desk import staff as accounts
from exporter.desk.documents import serving
from exporter.desk.guard import same_token
from exporter.desk.search import Entry
from exporter.desk.web import (
    COOKIE,
    LOGIN_COOKIE,
    Visitor,
    client_address,
    desk_of,
    message,
    page,
    render,
    requires,
    set_cookie,
)
from exporter.errors import ArchiveLocked, ExporterError, NotFound

__all__ = ["ROUTES"]


def _audit_detail(entry: Entry, **more: Any) -> dict[str, Any]:
    return {"client": entry.client.display_key, "record": entry.client.record_id, **more}


async def login_form(request: Request, problem: str = "", status: int = 200) -> Response:
    if await page(request) is not None and not problem:
        return RedirectResponse("/", status_code=303)
    token = secrets.token_urlsafe(32)
    notice = ("Your session ended after a while without use; log in again."
              if request.query_params.get("ended") else
              "You are logged out." if request.query_params.get("out") else "")
    response = render(request, "login.html", None, status=status, login_csrf=token,
                      notice=notice, problem=problem, page="login")
    set_cookie(response, request, LOGIN_COOKIE, token)
    return response


async def login(request: Request) -> Response:
    desk = desk_of(request)
    form = await request.form()
    name, password = str(form.get("name") or "").strip(), str(form.get("password") or "")
    if not same_token(request.cookies.get(LOGIN_COOKIE), str(form.get("csrf") or "")):
        return await login_form(request, "The login form had expired; please try again.", 403)
    address = client_address(request)
    wait = desk.guard.locked_for(name, address)
    if wait > 0:
        return await login_form(request, _locked(wait), 429)
    account = await desk.data.call(desk.data.login, name, password)
    if account is None:
        desk.guard.failed(name, address)
        wait = desk.guard.locked_for(name, address)
        if wait > 0:
            await desk.data.call(desk.data.audit, "desk.lockout", name, {"address": address})
            return await login_form(request, _locked(wait), 429)
        return await login_form(request, "That name and password do not match; try again.",
                                401)
    desk.guard.succeeded(account.name)
    await desk.data.call(desk.data.audit, "desk.login", account.name, {"address": address})
    response = RedirectResponse("/", status_code=303)
    set_cookie(response, request, COOKIE, desk.sessions.start(account.name))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


def _locked(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return (f"Too many wrong passwords: logging in is locked for {minutes} minute"
            f"{'' if minutes == 1 else 's'}. Wait, or ask the office manager.")


@requires("search")
async def logout(request: Request, visitor: Visitor) -> Response:
    desk_of(request).sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse("/login?out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@requires("search")
async def search_page(request: Request, visitor: Visitor) -> Response:
    query, results = "", []
    if request.method == "POST":
        form = await request.form()
        query = str(form.get("q") or "").strip()[:100]
        desk = desk_of(request)
        results = await desk.data.call(desk.data.search, query)
    return render(request, "search.html", visitor, query=query, results=results, page="search")


async def _entry(request: Request) -> Entry | None:
    desk = desk_of(request)
    return await desk.data.call(desk.data.entry, str(request.path_params["token"]))


def _as_of(request: Request, visitor: Visitor) -> int | None:
    text = request.query_params.get("as_of", "")
    return int(text) if text.isdigit() and visitor.can("history") else None


def _gone(request: Request, visitor: Visitor) -> Response:
    return message(request, visitor, "Client not found", "This link is no longer valid "
                   "(the desk was restarted, or the client left the archive): search again.",
                   404)


@requires("view")
async def client_page(request: Request, visitor: Visitor) -> Response:
    desk = desk_of(request)
    entry = await _entry(request)
    if entry is None:
        return _gone(request, visitor)
    as_of = _as_of(request, visitor)
    try:
        shown = await desk.data.call(desk.data.plan, entry, as_of)
    except NotFound as exc:
        return message(request, visitor, "Nothing to show", str(exc), 404)
    runs = await desk.data.call(desk.data.sync_runs) if visitor.can("history") else []
    await desk.data.call(desk.data.audit, "desk.view", visitor.name,
                         _audit_detail(entry, as_of_run=as_of, data_run=shown.data_run))
    return render(request, "client.html", visitor, plan=shown.plan, info=shown.info,
                  token=entry.token, as_of=as_of, runs=runs, client_status=entry.status, page="")


@requires("print")
async def client_pdf(request: Request, visitor: Visitor) -> Response:
    desk = desk_of(request)
    entry = await _entry(request)
    if entry is None:
        return _gone(request, visitor)
    as_of = _as_of(request, visitor)
    paper = "a4" if request.query_params.get("paper") == "a4" else "letter"
    try:
        pdf = await desk.data.call(desk.data.pdf, entry, paper, as_of)
    except ExporterError as exc:
        return message(request, visitor, "The PDF could not be made", str(exc), 500)
    await desk.data.call(desk.data.audit, "desk.print", visitor.name,
                         _audit_detail(entry, as_of_run=as_of, paper=paper))
    name = f"careplan-{entry.client.display_key}.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@requires("documents")
async def documents_page(request: Request, visitor: Visitor) -> Response:
    desk = desk_of(request)
    entry = await _entry(request)
    if entry is None:
        return _gone(request, visitor)
    documents = await desk.data.call(desk.data.documents, entry)
    await desk.data.call(desk.data.audit, "desk.documents", visitor.name, _audit_detail(entry))
    return render(request, "documents.html", visitor, client=entry.client, token=entry.token,
                  documents=documents, page="")


@requires("documents")
async def document_file(request: Request, visitor: Visitor) -> Response:
    desk = desk_of(request)
    entry = await _entry(request)
    if entry is None:
        return _gone(request, visitor)
    documents = await desk.data.call(desk.data.documents, entry)
    number = int(request.path_params["number"])
    if not 0 <= number < len(documents):
        return _gone(request, visitor)
    document = documents[number]
    body = await desk.data.call(desk.data.document_bytes, document)
    await desk.data.call(desk.data.audit, "desk.document", visitor.name,
                         _audit_detail(entry, file=document.name, sha256=document.sha256))
    media_type, headers = serving(document)
    return Response(body, media_type=media_type, headers=headers)


@requires("visits")
async def visits_page(request: Request, visitor: Visitor) -> Response:
    desk = desk_of(request)
    today = dt.datetime.now().astimezone().date()
    day, week = await desk.data.call(desk.data.visits, today)
    clients = {e.client.key: e for e in desk.data.index.entries}
    await desk.data.call(desk.data.audit, "desk.visits", visitor.name,
                         {"week_of": today.isoformat()})
    monday = today - dt.timedelta(days=today.weekday())
    return render(request, "visits.html", visitor, today=today, day=day, week=week,
                  clients=clients, week_start=monday,
                  week_end=monday + dt.timedelta(days=6), page="visits")


@requires("staff")
async def staff_page(request: Request, visitor: Visitor) -> Response:
    return await _staff_view(request, visitor)


async def _staff_view(request: Request, visitor: Visitor, notice: str = "",
                      problem: str = "", status: int = 200) -> Response:
    desk = desk_of(request)
    listed = await desk.data.call(desk.data.staff)
    return render(request, "staff.html", visitor, status=status, accounts=listed,
                  notice=notice, problem=problem, policy=accounts.POLICY, page="staff")


async def _staff_change(request: Request, visitor: Visitor, fn: Any, *args: Any,
                        done: str) -> Response:
    desk = desk_of(request)
    try:
        await desk.data.call(desk.data.change_staff, fn, *args)
    except ArchiveLocked:
        return await _staff_view(
            request, visitor, problem="The nightly job is writing to the archive: try again "
            "in a few minutes; nothing was changed.", status=409)
    except ExporterError as exc:
        return await _staff_view(
            request, visitor, problem=str(exc), status=400)
    return await _staff_view(request, visitor, notice=done)


@requires("staff")
async def staff_add(request: Request, visitor: Visitor) -> Response:
    form = await request.form()
    name, role = str(form.get("name") or ""), str(form.get("role") or "")
    if role not in accounts.ROLES:
        role = "print"
    return await _staff_change(request, visitor, accounts.add_staff, name, role,
                               str(form.get("password") or ""), f"desk:{visitor.name}",
                               done=f"Added {name.strip()} ({role}).")


@requires("staff")
async def staff_remove(request: Request, visitor: Visitor) -> Response:
    form = await request.form()
    name = str(form.get("name") or "")
    if name.casefold() == visitor.name.casefold():
        return await _staff_view(
            request, visitor, problem="You cannot remove your own account here.", status=400)
    response = await _staff_change(request, visitor, accounts.remove_staff, name,
                                   f"desk:{visitor.name}", done=f"Removed {name}.")
    desk_of(request).sessions.end_for(name)
    return response


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/login", login_form, ["GET"]),
    ("/login", login, ["POST"]),
    ("/logout", logout, ["POST"]),
    ("/", search_page, ["GET"]),
    ("/search", search_page, ["POST"]),
    ("/client/{token}", client_page, ["GET"]),
    ("/client/{token}/plan.pdf", client_pdf, ["GET"]),
    ("/client/{token}/documents", documents_page, ["GET"]),
    ("/client/{token}/documents/{number:int}", document_file, ["GET"]),
    ("/visits", visits_page, ["GET"]),
    ("/staff", staff_page, ["GET"]),
    ("/staff/add", staff_add, ["POST"]),
    ("/staff/remove", staff_remove, ["POST"]),
]
