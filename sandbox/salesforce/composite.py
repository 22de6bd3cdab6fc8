"""The Composite resources: ``POST .../composite`` (REST) and ``POST .../tooling/composite``
(Tooling API): up to 25 subrequests answered in one call, which counts as ONE call against
the org's daily API limit (Salesforce's REST API Developer Guide, "Send Multiple Requests
Using Composite"; Composite *Batch*, which counts each subrequest, is not emulated).

REST subrequests emulated: ``GET sobjects/{Object}/describe`` (an ``If-Modified-Since`` in
the subrequest's ``httpHeaders`` answers 304 with no body), ``GET query`` / ``queryAll``,
and sObject Collections (``POST``/``PATCH``/``DELETE composite/sobjects``, ``PATCH
composite/sobjects/{Object}/{ExternalIdField}``). At most 5 subrequests may be sObject
Collections or queries, as in Salesforce. Tooling subrequests emulated: ``POST
tooling/sobjects/CustomField``. With ``allOrNone: false`` (the default) each subrequest
stands alone: one that fails answers its own error (``httpStatusCode`` 4xx, the body
Salesforce's error array) and the others are still applied. Not emulated: ``allOrNone:
true`` (refused with 400), references between subrequests (``@{ref.id}``), and
``collateSubrequests``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.http import HTTPError, Request, Response
from sandbox.salesforce.org import sf_error
from sandbox.salesforce.query import QueryAPI
from sandbox.salesforce.sobjects import SObjectAPI
from sandbox.salesforce.tooling import ToolingAPI

__all__ = ["CompositeAPI"]

COMPOSITE_MAX, COMPOSITE_HEAVY = 25, 5  # subrequests per call; collections or queries of them
_V = r"/services/data/v(?P<ver>\d+\.\d+)"
Sub = Callable[[Request], Response]


class CompositeAPI(SObjectAPI, QueryAPI, ToolingAPI):
    """``/composite`` and ``/tooling/composite`` over the org's own handlers."""

    def _rest_subroutes(self) -> list[tuple[str, re.Pattern[str], Sub, bool]]:
        """(method, path pattern, handler, heavy: a collection or a query)."""
        table: list[tuple[str, str, Sub, bool]] = [
            ("GET", _V + r"/sobjects/(?P<obj>\w+)/describe/?", self._describe, False),
            ("GET", _V + r"/(?P<kind>query|queryAll)/?", self._query, True),
            ("POST", _V + r"/composite/sobjects/?", self._composite, True),
            ("PATCH", _V + r"/composite/sobjects/?", self._composite, True),
            ("DELETE", _V + r"/composite/sobjects/?", self._composite, True),
            ("PATCH", _V + r"/composite/sobjects/(?P<obj>\w+)/(?P<ext>\w+)/?", self._composite,
             True),
        ]
        return [(m, re.compile(p), h, heavy) for m, p, h, heavy in table]

    def _tooling_subroutes(self) -> list[tuple[str, re.Pattern[str], Sub, bool]]:
        return [("POST", re.compile(_V + r"/tooling/sobjects/CustomField/?"),
                 self._tooling_custom_field, False)]

    def _composite_request(self, request: Request) -> Response:
        return self._run_composite(request, self._rest_subroutes(), "REST")

    def _tooling_composite(self, request: Request) -> Response:
        return self._run_composite(request, self._tooling_subroutes(), "Tooling")

    def _run_composite(self, request: Request,
                       routes: list[tuple[str, re.Pattern[str], Sub, bool]],
                       api: str) -> Response:
        body = self._body(request)
        subs = body.get("compositeRequest")
        if not isinstance(subs, list) or not 1 <= len(subs) <= COMPOSITE_MAX:
            raise sf_error(400, "INVALID_REQUEST",
                           f"compositeRequest must hold 1 to {COMPOSITE_MAX} subrequests")
        if body.get("allOrNone"):
            raise sf_error(400, "INVALID_REQUEST", "the sandbox emulates allOrNone false only")
        planned: list[tuple[dict[str, Any], Sub, dict[str, str]]] = []
        heavy = 0
        refs: set[str] = set()
        for sub in subs:
            if not isinstance(sub, dict) or not sub.get("referenceId") \
                    or str(sub["referenceId"]) in refs:
                raise sf_error(400, "INVALID_REQUEST", "each subrequest needs a referenceId "
                               "of its own")
            refs.add(str(sub["referenceId"]))
            if "@{" in json.dumps(sub):
                raise sf_error(400, "INVALID_REQUEST", "the sandbox does not emulate "
                               "references between subrequests")
            path = urlsplit(str(sub.get("url", ""))).path
            hit = next(((h, rx.fullmatch(path), hv) for m, rx, h, hv in routes
                        if m == sub.get("method") and rx.fullmatch(path)), None)
            if hit is None or hit[1] is None:
                raise sf_error(400, "INVALID_REQUEST", f"the sandbox's {api} composite "
                               f"resource does not take {sub.get('method')} {path}")
            heavy += hit[2]
            planned.append((sub, hit[0], hit[1].groupdict()))
        if heavy > COMPOSITE_HEAVY:
            raise sf_error(400, "INVALID_REQUEST", f"a composite request may hold at most "
                           f"{COMPOSITE_HEAVY} sObject Collections or query subrequests")
        return Response.json({"compositeResponse": [
            self._subrequest(request, sub, handler, params)
            for sub, handler, params in planned]})

    def _subrequest(self, outer: Request, sub: dict[str, Any], handler: Sub,
                    params: dict[str, str]) -> dict[str, Any]:
        url = urlsplit(str(sub["url"]))
        headers = {**outer.headers, **{str(k).lower(): str(v) for k, v in
                                       (sub.get("httpHeaders") or {}).items()}}
        raw = json.dumps(sub["body"]).encode() if "body" in sub else b""
        inner = Request(str(sub["method"]), url.path, parse_qs(url.query), headers, raw,
                        {k: v for k, v in params.items() if v is not None})
        try:
            answer = handler(inner)
        except HTTPError as exc:
            answer = exc.response
        except ValueError as exc:
            answer = sf_error(400, "JSON_PARSER_ERROR", f"{exc}").response
        return {"body": json.loads(answer.body) if answer.body else None,
                "httpHeaders": {k: v for k, v in answer.headers.items()
                                if k.lower() in ("last-modified", "location")},
                "httpStatusCode": answer.status, "referenceId": sub.get("referenceId")}
