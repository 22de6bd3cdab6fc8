"""Salesforce's Composite resources as the restore writer uses them: several requests in
one call, which Salesforce counts as ONE call against the org's daily API limit ("The
entire series of requests counts as a single call toward your API limits": REST API
Developer Guide, Composite; the Tooling API's ``tooling/composite`` likewise). Composite
*Batch* (each subrequest counted) is not used.

A composite call holds at most 25 subrequests, at most 5 of them sObject Collections or
queries; ``allOrNone: false`` keeps them independent (one refused subrequest answers its
own error; the others are applied). Describes, the restore's counts, field creation
(Tooling ``CustomField``) and record batches of 200 are grouped so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["HEAVY_MAX", "SUB_MAX", "Sub", "failed_records", "grouped", "packed", "send"]

T = TypeVar("T")

SUB_MAX, HEAVY_MAX = 25, 5
Sub = dict[str, Any]  # {"method", "url", "referenceId", ["body"], ["httpHeaders"]}


def _heavy(sub: Sub) -> bool:
    url = str(sub.get("url", ""))
    return "/composite/sobjects" in url or "/query" in url


def packed(items: list[T], most: int, budget: int, weight: Callable[[T], int]
           ) -> list[list[T]]:
    """``items`` in order, in groups of at most ``most`` whose weights add up to at most
    ``budget`` (an item heavier than the budget goes alone)."""
    groups: list[list[T]] = []
    group: list[T] = []
    total = 0
    for item in items:
        w = weight(item)
        if group and (len(group) >= most or total + w > budget):
            groups.append(group)
            group, total = [], 0
        group.append(item)
        total += w
    if group:
        groups.append(group)
    return groups


def grouped(subs: list[Sub]) -> list[list[Sub]]:
    """The subrequests in calls of at most 25, of which at most 5 collections or queries."""
    return packed(subs, SUB_MAX, HEAVY_MAX, _heavy)


def send(call: Callable[..., Any], what: str, path: str, subs: list[Sub],
         before_retry: Callable[[list[Sub]], None] | None = None) -> list[dict[str, Any]]:
    """Every subrequest's answer ({body, httpStatusCode, referenceId}), in order, through
    ``call(what, path, method, body, maybe_applied)`` (``path``: ``composite`` or
    ``tooling/composite``); ``before_retry`` gets the subrequests of a call that may have
    been applied before it is sent again."""
    out: list[dict[str, Any]] = []
    for group in grouped(subs):
        refs = [str(s["referenceId"]) for s in group]
        hook = None if before_retry is None else (lambda g=group: before_retry(g))
        answer = call(what, path, "POST", {"allOrNone": False, "compositeRequest": group},
                      hook)
        subs_answered = answer.get("compositeResponse") if isinstance(answer, dict) else None
        by_ref = {str(a.get("referenceId")): a for a in subs_answered or []
                  if isinstance(a, dict)} if isinstance(subs_answered, list) else {}
        out += [by_ref.get(ref) or {"httpStatusCode": 500, "referenceId": ref, "body": [{
            "errorCode": "UNKNOWN_EXCEPTION", "message": "no answer for this request"}]}
            for ref in refs]
    return out


def failed_records(answer: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """An sObject Collection subrequest refused as a whole, as ``count`` per-record
    failures in the collection's own answer shape."""
    body = answer.get("body")
    errors = body if isinstance(body, list) else [{}]
    shaped = [{"statusCode": e.get("errorCode", "UNKNOWN_EXCEPTION") if isinstance(e, dict)
               else "UNKNOWN_EXCEPTION",
               "message": e.get("message", "refused") if isinstance(e, dict) else str(e),
               "fields": e.get("fields") or [] if isinstance(e, dict) else []}
              for e in errors]
    return [{"success": False, "errors": shaped} for _ in range(count)]
