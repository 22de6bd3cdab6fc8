"""The desk's Starlette application: routes, static files, security headers, and the
archive's start and stop around the server's life (with the journal flushed every few
seconds, so views made during a nightly sync reach the audit log once it ends)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import AsyncIterator
from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from exporter.desk.pages import ROUTES
from exporter.desk.web import Desk, PlainErrors, SecurityHeaders

__all__ = ["FLUSH_SECONDS", "make_app"]

_log = logging.getLogger("exporter.desk")

#: How often the desk looks for a finished sync, and copies the journal into the audit log
#: when the write lock was busy.
FLUSH_SECONDS = 5.0


def make_app(desk: Desk) -> Starlette:
    """The ASGI application serving ``desk``; the archive opens when the server starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if desk.data.archive is None:  # the command opens it first, to report a problem
            await desk.data.call(desk.data.start)
        flusher = asyncio.create_task(_flush_now_and_then(desk))
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            try:
                await desk.data.call(desk.data.stop)
            except Exception:  # what the journal held waits, sealed, for the next desk
                _log.error("the desk could not copy its journal as it stopped\n%s",
                           traceback.format_exc())

    static = str(resources.files("exporter.desk").joinpath("static"))
    routes: list[BaseRoute] = [Route(path, endpoint, methods=methods)
                               for path, endpoint, methods in ROUTES]
    routes.append(Mount("/static", StaticFiles(directory=static), name="static"))
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(SecurityHeaders, https=desk.https),
                                Middleware(PlainErrors)])
    app.state.desk = desk
    return app


async def _flush_now_and_then(desk: Desk) -> None:
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        try:
            await desk.data.call(desk.data.tick)
        except Exception:
            # Logged, and the next tick tries again: else the task would end silently here
            # and its traceback reach the console when the desk stops.
            _log.error("the desk could not look for a new sync or copy its journal\n%s",
                       traceback.format_exc())
